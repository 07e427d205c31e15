"""The HTTP server side: uvicorn's protocol writing each response in one piece, and the
hot lane that takes the busiest routes past the router.

`uvicorn --http service.server:HttpToolsProtocol` names the protocol by this package."""

from service.server.protocol import HttpToolsProtocol

__all__ = ["HttpToolsProtocol"]
