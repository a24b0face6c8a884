"""Local stand-ins of the API destinations: the sandbox the pipeline starts when no connection is set.

Each enforces its vendor's published contract (auth, limits, hash formats, error bodies,
sessions) and keeps the membership it received, so the demo shows every destination working
end to end and tests assert the final state. They listen on 127.0.0.1 only.
"""

from cdp.activation.standins.meta import MetaStandIn
from cdp.activation.standins.server import Fault, Request, Response, StandIn, load_state
from cdp.activation.standins.webhook import WebhookStandIn

__all__ = ["Fault", "MetaStandIn", "Request", "Response", "StandIn", "WebhookStandIn", "load_state"]
