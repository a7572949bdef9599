#!/bin/sh
# A handler for the agent's tests: records each call the guest agent makes (operation,
# sequence number, working directory and the variables it sets) in ../calls.log, next to
# the handler directory so the record outlives an uninstall. Enable writes a success
# status unless RECORDER_ENABLE (inherited from the agent) is `fail` or `hang`.
# Committed without the execute bit: the agent must set it.
op="$1"
echo "$op seq=$ConfigSequenceNumber cwd=$(pwd) path=$AZURE_GUEST_AGENT_EXTENSION_PATH" \
    "version=$AZURE_GUEST_AGENT_EXTENSION_VERSION wire=$AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS" \
    "uninstall_code=$AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE" \
    "disable_code=$AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE" \
    "from=$AZURE_GUEST_AGENT_UPDATING_FROM_VERSION VERSION=$VERSION" >> ../calls.log
[ "$op" = enable ] || exit 0
case "$RECORDER_ENABLE" in
fail)
    echo "enable refused" >&2
    exit 3 ;;
hang)
    sleep 60 & echo $! > ../child.pid
    echo "waiting"
    sleep 60 ;;
esac
printf '[{"version":"1.0","timestampUTC":"%s","status":{"name":"recorder","operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"enabled %s"}}}]' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ConfigSequenceNumber" > "status/$ConfigSequenceNumber.status"
