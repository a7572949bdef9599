#!/bin/sh
# The guest agent runs `handle.sh <verb>` in this directory. Enable starts the snapshot in
# the background and returns at once, as the real extension's daemon does; the other verbs
# have nothing to do.
if [ "$1" = enable ]; then
    python3 snapshot.py "$ConfigSequenceNumber" >> snapshot.log 2>&1 &
fi
exit 0
