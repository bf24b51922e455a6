#!/bin/sh
# Makes a throw-away CA, a server certificate, a random scrape password and the matching
# logpulse web config (--web.config.file) in OUT_DIR, for the compose demo stack
# (deploy/compose.yaml runs it once in an alpine container) or a first test anywhere.
# Needs: openssl, htpasswd (apache2-utils). Keeps existing files: run it again to get the same.
#
#   make-web-config.sh OUT_DIR [DNS_NAME...]     (default names: logpulse localhost)
#
# Writes: ca.pem (give it to Prometheus as tls_config.ca_file), tls.crt, tls.key,
# scrape-password (Prometheus' basic_auth.password_file), web.yml (user "prometheus").
# For production use your own CA (or cert-manager) and your own password; see docs/security.md.
set -eu
out=${1:?usage: make-web-config.sh OUT_DIR [DNS_NAME...]}
shift
[ "$#" -gt 0 ] || set -- logpulse localhost
mkdir -p "$out"
cd "$out"
if [ -s web.yml ] && [ -s tls.crt ] && [ -s tls.key ]; then
    echo "make-web-config: $out already has web.yml, tls.crt and tls.key; keeping them"
    exit 0
fi
umask 077
sans=""
for n in "$@"; do sans="${sans:+$sans,}DNS:$n"; done
sans="$sans,IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=logpulse demo CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$1" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$sans" > ext.cnf
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile ext.cnf -out tls.crt 2>/dev/null
rm -f tls.csr ext.cnf ca.srl ca.key
openssl rand -hex 24 > scrape-password
hash=$(htpasswd -nbBC 10 "" "$(cat scrape-password)" | tr -d ':\n')
cat > web.yml <<YAML
# Made by make-web-config.sh: TLS with the demo CA's certificate, basic auth for Prometheus.
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
basic_auth_users:
  prometheus: '$hash'
YAML
chmod 0644 ca.pem tls.crt web.yml
# The agent's image runs as uid 10001, Prometheus' as nobody (65534).
if [ "$(id -u)" = 0 ]; then
    chown 10001 tls.key && chmod 0400 tls.key
    chown 65534 scrape-password && chmod 0400 scrape-password
fi
echo "make-web-config: wrote ca.pem tls.crt tls.key scrape-password web.yml to $out (names: $*)"
