"""
moto_server with DynamoDB requests serialised: every DynamoDB API call runs alone, as it is atomic on AWS.

Plain moto_server runs each request on its own thread with no locking, so a conditional UpdateItem is not
atomic (two writers racing on one item can both pass `version = :v`; measured 11 of 40 races with GSI items),
and a cancelled TransactWriteItems restores a snapshot of every table it touched, undoing other requests' writes.
Tests whose point is "two writers race, exactly one wins" need DynamoDB's real per-request atomicity. SQS and
everything else stay concurrent (long polls must not block the server).

usage: python3 moto_linearizable.py <host> <port>
"""
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
dynamodb_lock = threading.Lock()


def serialised(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with dynamodb_lock:
            # Run the request to completion (body included) while holding the lock.
            return [b"".join(app(environ, start_response))]
    return app(environ, start_response)


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialised, threaded=True)
