# Shell helpers for the scripts in tools/ (source this file; it defines functions only).

# start_pcancel_server BIN_DIR OUT_FILE [pcancel-server arguments…]
# Starts BIN_DIR/pcancel-server in the background with its output in OUT_FILE and waits until it
# prints "listening on". Sets SERVER_PID and PORT. If the server dies first, or is not listening
# within 90 s of wall-clock time (counted by the shell's SECONDS, not by checks: on a loaded
# machine the checks themselves take time), prints its output and the server's process state, and
# exits the script with status 1. OUT_FILE may be one an earlier start wrote.
start_pcancel_server() {
  local bin=$1 out=$2
  shift 2
  # Emptied here, before the server starts: the redirection below happens in the background
  # child, and a check made before it would read an earlier server's "listening on" from a reused file.
  : >"$out"
  "$bin/pcancel-server" "$@" >"$out" 2>&1 &
  SERVER_PID=$!
  local started=$SECONDS
  while [ $(( SECONDS - started )) -lt 90 ]; do
    grep -q "listening on" "$out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "pcancel-server failed to start:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.02
  done
  grep -q "listening on" "$out" || {
    echo "pcancel-server (pid $SERVER_PID) was not listening after $(( SECONDS - started )) s:" >&2
    cat "$out" >&2
    ps -o pid,stat,etime,args -p "$SERVER_PID" >&2 || true
    exit 1
  }
  PORT=$(grep -o 'listening on .*' "$out" | sed 's/.*://')
}
