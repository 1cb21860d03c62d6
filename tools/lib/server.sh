# Shell helpers for the scripts in tools/ (source this file; it defines functions only).

# start_pcancel_server BIN_DIR OUT_FILE [pcancel-server arguments…]
# Starts BIN_DIR/pcancel-server in the background with its output in OUT_FILE and waits until it
# prints "listening on". Sets SERVER_PID and PORT. If the server dies first, or is not listening
# within 3000 checks 20 ms apart (60 s and more: on a loaded machine the checks themselves take
# time), prints its output and the server's process state, and exits the script with status 1.
start_pcancel_server() {
  local bin=$1 out=$2
  shift 2
  "$bin/pcancel-server" "$@" >"$out" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 3000); do
    grep -q "listening on" "$out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "pcancel-server failed to start:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.02
  done
  grep -q "listening on" "$out" || {
    echo "pcancel-server (pid $SERVER_PID) was not listening after 3000 checks (60 s or more):" >&2
    cat "$out" >&2
    ps -o pid,stat,etime,args -p "$SERVER_PID" >&2 || true
    exit 1
  }
  PORT=$(grep -o 'listening on .*' "$out" | sed 's/.*://')
}
