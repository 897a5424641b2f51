// PG-free parts of coditect-worker (the outbox's delivery process, sql/53_outbox.sql): the
// webhook URL, the body and its signature, the HTTP request, the answer's status line and the
// retry delay. Unit-tested in test/unit/worker_delivery_test.cpp.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coditect::worker {

// An http:// or https:// URL split for a request: host (brackets stripped from an IPv6
// literal), port (default 80 / 443) and the request target (path and query, "/" at least).
struct Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string target;
  // The Host header's value: the host, and the port when it is not the scheme's default.
  std::string host_header() const;
};

// nullopt for anything else: another scheme, no host, a bad port, user info (credentials in a
// URL are refused rather than sent), spaces or control characters. The fragment is dropped.
std::optional<Url> parse_url(const std::string& url);

// What a claim hands over: one delivery.
struct Delivery {
  std::string id;  // also the Idempotency-Key
  std::string tenant_id;
  std::string event;
  std::string url;
  std::string payload;     // JSON object (text)
  std::string created_at;  // RFC 3339, UTC
  int attempts = 0;        // attempts made before this one
  std::string secret;      // the HMAC key (the whsec_ string's bytes)
};

// The POSTed body: {"id", "event", "tenant_id", "created_at", "data": payload}, compact JSON.
// Throws std::invalid_argument when the payload is not a JSON object.
std::string delivery_body(const Delivery& d);

// Whether an address the worker would connect to is the machine's own or a private network's:
// loopback, RFC 1918, carrier-grade NAT (100.64/10), link-local (169.254/16, where cloud
// metadata services answer; fe80::/10), unique-local (fc00::/7), unspecified, and IPv4-mapped
// forms of them. Tenants choose the URLs, so by default the worker refuses these (no probing of
// the inside through the outbox).
bool is_private_address(const struct sockaddr* address);

// A complete HTTP/1.1 POST of body to url (Connection: close), with Content-Type
// application/json, Idempotency-Key, Coditect-Event and Coditect-Signature (the product's one
// signature, coditect::webhook::sign: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>").
std::string build_request(const Url& url, const Delivery& d, const std::string& body,
                          long long unix_seconds, const std::string& user_agent);

// The status code of an answer's status line ("HTTP/1.1 200 OK" -> 200), once the head is
// complete; nullopt when it is not an HTTP/1.x status line with a 3-digit code (100-599).
std::optional<int> parse_status_line(const std::string& response);

// The delay before the next attempt after `attempts` failed ones (1 for the first failure):
// base * 2^(attempts-1), capped at max, of which the upper half is jittered by random01 in
// [0, 1): the delay is in [d/2, d]. Jitter spreads the retries of many deliveries that failed
// together (a receiver back from an outage is not hit by all of them at once).
double backoff_seconds(int attempts, double base_seconds, double max_seconds, double random01);

}  // namespace coditect::worker
