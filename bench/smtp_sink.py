"""A local SMTP server for the benchmarks, in its own process so it does not share the GIL
with the code being measured. Prints its port, then, when asked ("count" on stdin), how many
messages it accepted; exits at end of input. With --record FILE it appends each accepted
message's Message-ID to FILE before answering 250 (bench/chaos_outbox.py counts repeats).

    python bench/smtp_sink.py [--record FILE]
"""
import re
import socket
import sys

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self, record=None):
        self.count = 0
        self.record = open(record, "a", buffering=1) if record else None

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if self.record is not None:
            header = re.search(rb"^Message-ID:\s*(\S+)", envelope.original_content, re.MULTILINE | re.IGNORECASE)
            self.record.write((header.group(1).decode() if header else "?") + "\n")
        return "250 OK"


def main():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = CountingHandler(sys.argv[2] if sys.argv[1:2] == ["--record"] else None)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(handler.count, flush=True)
    controller.stop()


if __name__ == "__main__":
    main()
