"""The realtime kernel that the web nodes, the workers and the gateways share.

Channel names and who may read them (:mod:`realtime.channels`), the Redis streams that
keep every channel's history and hand out offsets (:mod:`realtime.streams`), the signed
websocket tokens (:mod:`realtime.tokens`), session and user revocation
(:mod:`realtime.revocation`) and websocket frames built once per event
(:mod:`realtime.frames`). It imports no web framework, no ORM and none of ``webapp``,
``tasks`` or ``wsgate``: they all import it.
"""
