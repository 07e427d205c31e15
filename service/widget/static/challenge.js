// civicpoll fair limits, the browser's side: a vote answered 428 carries an ALTCHA
// challenge; solve it in a Web Worker (pow-worker.js, same origin, no third-party code)
// and hand back the payload the retried vote sends as "altcha". No puzzle for the reader.
(function () {
  "use strict";
  var script = document.currentScript;
  var workerUrl = script && script.getAttribute("data-worker");
  var SLOW_MS = 500; // past this, the page says (politely) that it is still working

  // civicpollChallenge(challenge, onSlow) -> Promise of the base64 payload.
  window.civicpollChallenge = function (challenge, onSlow) {
    return new Promise(function (resolve, reject) {
      if (!window.Worker || !workerUrl) return reject(new Error("no worker"));
      var worker = new Worker(workerUrl);
      var slow = setTimeout(function () { if (onSlow) onSlow(); }, SLOW_MS);
      function done() { clearTimeout(slow); worker.terminate(); }
      worker.onmessage = function (event) {
        done();
        var number = event.data && event.data.number;
        if (typeof number !== "number") return reject(new Error("unsolved"));
        resolve(btoa(JSON.stringify({
          algorithm: challenge.algorithm,
          challenge: challenge.challenge,
          number: number,
          salt: challenge.salt,
          signature: challenge.signature
        })));
      };
      worker.onerror = function () { done(); reject(new Error("worker failed")); };
      worker.postMessage({
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        maxnumber: challenge.maxnumber,
        salt: challenge.salt
      });
    });
  };
})();
