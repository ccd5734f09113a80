# Sourced by .ci/run. Makes PostgreSQL's server programs (initdb, pg_ctl,
# postgres) available to the tests, which start throwaway clusters of their
# own on loopback (internal/store/pgtest): installs the distribution's
# postgresql package when initdb is missing, then puts its bin directory on
# PATH (Debian and Ubuntu keep it in /usr/lib/postgresql/N/bin). No server
# is started here and none is left running. As root, the tests run
# PostgreSQL as the package's "postgres" user.
_pg_bin() {
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true
}
if [ -z "$(_pg_bin)" ] || [ ! -x "$(_pg_bin)/initdb" ]; then
  echo "installing postgresql"
  # The package's post-install creates and starts a default cluster on
  # :5432; tests use their own clusters, so tell it not to.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/podidentity-ci.conf
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
_pg_dir="$(_pg_bin)"
if [ -z "$_pg_dir" ] || [ ! -x "$_pg_dir/initdb" ]; then
  echo "PostgreSQL server programs not found after installing postgresql" >&2
  return 1
fi
case ":$PATH:" in
  *":$_pg_dir:"*) ;;
  *) export PATH="$_pg_dir:$PATH" ;;
esac
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "the postgres user is missing; tests run PostgreSQL as it when CI runs as root" >&2
  return 1
fi
echo "PostgreSQL ready: $("$_pg_dir/postgres" --version) in $_pg_dir"
unset _pg_dir
unset -f _pg_bin
