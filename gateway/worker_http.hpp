// coditect-worker's HTTP client: one POST per connection over plain sockets (http://) or
// OpenSSL (https://, the certificate and the host name verified), with connect and read
// timeouts. Only the answer's status matters to the outbox.
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>

#include "worker_delivery.hpp"

namespace coditect::worker {

struct Timeouts {
  int connect_ms = 5000;
  int io_ms = 10000;  // after connecting: the TLS handshake, the request and the answer's head
  bool allow_private = false;  // connect to loopback and private addresses (is_private_address)
};

struct PostResult {
  std::optional<int> status;  // none: no HTTP answer (error says why)
  std::string error;
};

// Sends request (built by build_request) to url; tls_ctx is used for https:// only.
PostResult post(const Url& url, const std::string& request, const Timeouts& timeouts,
                SSL_CTX* tls_ctx);

// A client context verifying peers against the system's CAs, or ca_file's when given.
// Throws std::runtime_error when it cannot be made.
SSL_CTX* make_tls_context(const std::string& ca_file);

}  // namespace coditect::worker
