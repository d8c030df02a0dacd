"""Python client of ringwire's application server (``ringwire::apps``), on pyzmq.

::

    from ringwire_apps import AppClient

    client = AppClient("my_app", "tcp://127.0.0.1:8888")
    client.connect()
    reply = client.send_request("api", {"action": "get_data"})
    client.subscribe("news", lambda msg: print(msg.channel, msg.payload))
    client.publish("news", {"headline": "hello"})
    client.disconnect()

Payloads are JSON (``json.dumps``); the envelope is documented byte for byte in
``docs/apps.md`` of the ringwire repository.
"""

from .client import AppClient, AppError, Message, NoReply

__all__ = ["AppClient", "AppError", "Message", "NoReply"]
