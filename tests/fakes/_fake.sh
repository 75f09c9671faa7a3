# Shared by the fake programs in this directory (sourced, not run).
#
# Each call appends one line "NAME ARG..." to the file named by FAKE_LOG (if set).
# Behaviour is chosen per program by variables named after it: systemctl reads
# FAKE_SYSTEMCTL_*, rc-service reads FAKE_RC_SERVICE_*, and so on:
#   FAKE_<P>_STDOUT  a line written to stdout
#   FAKE_<P>_STDERR  a line written to stderr
#   FAKE_<P>_EXIT    the exit status (default 0)
#   FAKE_<P>_HANG    a file (a FIFO in the tests): start a child that sleeps, write
#                    "OWN_PID CHILD_PID" to the file in one write, then wait forever
# doas and sudo, when told nothing else, run the command after their options.

fake_call() {
    fake_name=$1
    shift
    if [ -n "${FAKE_LOG:-}" ]; then
        printf '%s\n' "$fake_name $*" >>"$FAKE_LOG"
    fi
    fake_var=$(printf '%s' "$fake_name" | tr 'a-z-' 'A-Z_')
    eval "fake_out=\${FAKE_${fake_var}_STDOUT:-}"
    eval "fake_err=\${FAKE_${fake_var}_STDERR:-}"
    eval "fake_exit=\${FAKE_${fake_var}_EXIT:-}"
    eval "fake_hang=\${FAKE_${fake_var}_HANG:-}"
    if [ -n "$fake_out" ]; then printf '%s\n' "$fake_out"; fi
    if [ -n "$fake_err" ]; then printf '%s\n' "$fake_err" >&2; fi
    if [ -n "$fake_hang" ]; then
        sleep 1000 &
        printf '%s %s\n' "$$" "$!" >"$fake_hang"
        wait
    fi
}
