# Shell functions the hack/ scripts share; source it.

# stop_pidfile FILE: stops the process whose id FILE holds (TERM, then KILL
# after 10 s) and removes FILE. Nothing to do when FILE is missing.
stop_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}
