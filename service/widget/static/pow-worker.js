// civicpoll proof-of-work worker: finds the number n <= maxnumber whose
// hex(SHA-256(salt + n)) is the ALTCHA challenge, off the page's main thread.
// Message in: {algorithm, challenge, maxnumber, salt}; out: {number} or {number: null}.
"use strict";
var BATCH = 2000; // digests in flight at once: crypto.subtle answers each asynchronously

function hex(buffer) {
  var bytes = new Uint8Array(buffer);
  var out = "";
  for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return out;
}

self.onmessage = function (event) {
  var job = event.data;
  var encoder = new TextEncoder();
  var algorithm = job.algorithm || "SHA-256";
  function from(start) {
    if (start > job.maxnumber) return Promise.resolve(null);
    var end = Math.min(job.maxnumber, start + BATCH - 1);
    var digests = [];
    for (var n = start; n <= end; n++) {
      digests.push(crypto.subtle.digest(algorithm, encoder.encode(job.salt + n)));
    }
    return Promise.all(digests).then(function (hashes) {
      for (var i = 0; i < hashes.length; i++) {
        if (hex(hashes[i]) === job.challenge) return start + i;
      }
      return from(end + 1);
    });
  }
  from(0).then(function (number) {
    self.postMessage({ number: number });
  }, function () {
    self.postMessage({ number: null });
  });
};
