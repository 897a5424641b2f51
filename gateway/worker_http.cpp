#include "worker_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace coditect::worker {

namespace {

using Clock = std::chrono::steady_clock;

std::string tls_error(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + buf : "");
}

// Closes the socket (and the TLS session) however the POST ends.
struct Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  ~Connection() {
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    if (fd >= 0) close(fd);
  }
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until fd is readable or writable, or the deadline passes (false).
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = remaining_ms(deadline);
    if (ms == 0) return false;
    int n = poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A non-blocking connection to one of host's addresses, within the connect timeout.
int connect_to(const Url& url, int timeout_ms, bool allow_private, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
  if (rc != 0) {
    error = std::string("resolve ") + url.host + ": " + gai_strerror(rc);
    return -1;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    // Checked on the address connected to, not the name: a name that resolves inside is refused.
    if (!allow_private && is_private_address(a->ai_addr)) {
      error = "refused: " + url.host + " resolves to a private or local address";
      continue;
    }
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int c = connect(fd, a->ai_addr, a->ai_addrlen);
    if (c != 0 && errno == EINPROGRESS) {
      if (wait_for(fd, POLLOUT, deadline)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        c = err == 0 ? 0 : -1;
        if (err) errno = err;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (c != 0) {
      error = std::string("connect: ") + std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// TLS I/O on the non-blocking socket: retries on WANT_READ / WANT_WRITE until the deadline.
template <typename Op>
int tls_io(Connection& c, Clock::time_point deadline, Op op, std::string& error) {
  for (;;) {
    int n = op();
    if (n > 0) return n;
    int e = SSL_get_error(c.ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait_for(c.fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        error = "timeout";
        return -1;
      }
      continue;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    error = tls_error("tls");
    return -1;
  }
}

}  // namespace

SSL_CTX* make_tls_context(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw std::runtime_error(tls_error("SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (ok != 1) {
    SSL_CTX_free(ctx);
    throw std::runtime_error(tls_error("loading the CA certificates"));
  }
  return ctx;
}

PostResult post(const Url& url, const std::string& request, const Timeouts& timeouts,
                SSL_CTX* tls_ctx) {
  PostResult out;
  Connection c;
  c.fd = connect_to(url, timeouts.connect_ms, timeouts.allow_private, out.error);
  if (c.fd < 0) return out;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeouts.io_ms);

  if (url.tls) {
    c.ssl = SSL_new(tls_ctx);
    if (!c.ssl) {
      out.error = tls_error("SSL_new");
      return out;
    }
    SSL_set_fd(c.ssl, c.fd);
    if (is_ip_literal(url.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(c.ssl, url.host.c_str());
      SSL_set1_host(c.ssl, url.host.c_str());
    }
    if (tls_io(
            c, deadline, [&] { return SSL_connect(c.ssl); }, out.error) <= 0) {
      long v = SSL_get_verify_result(c.ssl);
      if (v != X509_V_OK)
        out.error = std::string("tls: certificate: ") + X509_verify_cert_error_string(v);
      else if (out.error.empty())
        out.error = "tls: handshake failed";
      return out;
    }
  }

  size_t sent = 0;
  while (sent < request.size()) {
    int n;
    if (c.ssl) {
      n = tls_io(
          c, deadline,
          [&] {
            return SSL_write(c.ssl, request.data() + sent, static_cast<int>(request.size() - sent));
          },
          out.error);
    } else if (!wait_for(c.fd, POLLOUT, deadline)) {
      out.error = "timeout sending the request";
      return out;
    } else {
      n = static_cast<int>(send(c.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL));
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) out.error = std::string("send: ") + std::strerror(errno);
    }
    if (n <= 0) {
      if (out.error.empty()) out.error = "the connection closed while sending";
      return out;
    }
    sent += static_cast<size_t>(n);
  }

  // The status line is all the outbox needs: read until it is complete (or 8 KiB, or the end).
  std::string response;
  char buf[4096];
  while (response.size() < 8192 && !parse_status_line(response)) {
    int n;
    if (c.ssl) {
      n = tls_io(
          c, deadline, [&] { return SSL_read(c.ssl, buf, sizeof buf); }, out.error);
    } else if (!wait_for(c.fd, POLLIN, deadline)) {
      out.error = "timeout waiting for the answer";
      return out;
    } else {
      n = static_cast<int>(recv(c.fd, buf, sizeof buf, 0));
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) out.error = std::string("recv: ") + std::strerror(errno);
    }
    if (n < 0) return out;
    if (n == 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  out.status = parse_status_line(response);
  if (!out.status) out.error = response.empty() ? "no answer" : "not an HTTP answer";
  return out;
}

}  // namespace coditect::worker
