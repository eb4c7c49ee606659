"""The realtime gateway: a Tornado websocket server fed by one Redis pub/sub
subscription per process (contract §4). Run it with ``python -m wsgate``."""
