"""A local SMTP server for the benchmarks, in its own process so it does not share the GIL
with the code being measured. Prints its port, then, when asked ("count" on stdin), how many
messages it accepted; exits at end of input.

    python bench/smtp_sink.py
"""
import socket
import sys

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def main():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(handler.count, flush=True)
    controller.stop()


if __name__ == "__main__":
    main()
