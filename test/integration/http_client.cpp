#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace coditect::it {

namespace {

HttpResult parse(const std::string& raw) {
  HttpResult r;
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  auto cl = r.headers.find("content-length");
  if (cl != r.headers.end()) {
    size_t n = static_cast<size_t>(std::atol(cl->second.c_str()));
    if (r.body.size() > n) r.body.resize(n);
  }
  return r;
}

}  // namespace

HttpResult http_raw(const std::string& host, int port, const std::string& bytes, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    HttpResult failed;
    failed.error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return failed;
  }
  std::string error;
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;  // interrupted by a signal (seen while pg_ctl runs)
    if (n <= 0) {                           // the server may answer (413) before reading everything
      error = std::string("send: ") + (n < 0 ? std::strerror(errno) : "nothing sent");
      break;
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0)
        error += std::string(error.empty() ? "" : "; ") + "recv: " + std::strerror(errno);
      else if (raw.empty())
        error += std::string(error.empty() ? "" : "; ") + "closed without an answer";
      break;
    }
    raw.append(buf, static_cast<size_t>(n));
    // Stop once a full answer with Content-Length is in.
    size_t end = raw.find("\r\n\r\n");
    if (end != std::string::npos) {
      HttpResult r = parse(raw);
      auto cl = r.headers.find("content-length");
      if (cl != r.headers.end() &&
          raw.size() >= end + 4 + static_cast<size_t>(std::atol(cl->second.c_str())))
        break;
    }
  }
  close(fd);
  HttpResult r = parse(raw);
  if (r.status == 0)
    r.error = error.empty() ? "no HTTP answer in " + std::to_string(raw.size()) + " bytes" : error;
  return r;
}

HttpResult http_request(const std::string& host, int port, const std::string& method,
                        const std::string& target, const std::string& body,
                        const Headers& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + ":" +
                    std::to_string(port) + "\r\nConnection: close\r\n";
  bool has_ua = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "User-Agent") == 0) has_ua = true;
  }
  if (!has_ua) req += "User-Agent: coditect-gateway-it/1.0\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;
  return http_raw(host, port, req);
}

}  // namespace coditect::it
