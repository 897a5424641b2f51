#include "config.hpp"

#include <cstdlib>

namespace coditect::gateway {

namespace {

struct Option {
  const char* flag;
  const char* env;
  const char* help;
};

const Option kOptions[] = {
    {"--database-url", "CODITECT_DATABASE_URL",
     "libpq connection string or URL of a login in role coditect_gateway (required)"},
    {"--listen", "CODITECT_LISTEN", "host:port to listen on (default 127.0.0.1:8080)"},
    {"--jwt-secret", "CODITECT_JWT_SECRET",
     "HS256 shared secret for bearer tokens (at least 32 bytes)"},
    {"--jwks-file", "CODITECT_JWKS_FILE",
     "RS256/ES256 public keys: a JWKS JSON file (keys by kid), a {kid: PEM} JSON object, or "
     "a PEM public key or certificate"},
    {"--jwt-issuer", "CODITECT_JWT_ISSUER", "required iss claim (not checked when empty)"},
    {"--jwt-audience", "CODITECT_JWT_AUDIENCE", "required aud claim (not checked when empty)"},
    {"--threads", "CODITECT_THREADS", "HTTP worker threads (default 8)"},
    {"--pool-size", "CODITECT_POOL_SIZE", "database connections (default: threads)"},
    {"--max-request-bytes", "CODITECT_MAX_REQUEST_BYTES",
     "largest request body accepted, larger ones get 413 (default 1048576)"},
    {"--max-upload-chunk-bytes", "CODITECT_MAX_UPLOAD_CHUNK_BYTES",
     "largest body of an upload's PATCH (raw bytes), larger ones get 413 (default 8388608)"},
    {"--timeout-ms", "CODITECT_TIMEOUT_MS",
     "statement_timeout (then 504) and wait for a database connection; request header and "
     "body timeouts are twice this (default 10000)"},
    {"--max-connections", "CODITECT_MAX_CONNECTIONS",
     "concurrent client connections; past it a new one gets 503 and is closed (default 4096, "
     "lowered to fit the open-file limit)"},
    {"--public-url", "CODITECT_PUBLIC_URL",
     "the gateway's URL as clients reach it, e.g. https://api.example.com, for pagination "
     "links and the OpenAPI server (default: relative links)"},
};

std::optional<long> to_long(const std::string& s, long lo, long hi) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  long v = std::strtol(s.c_str(), nullptr, 10);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<std::string> assign(Config& c, const std::string& flag, const std::string& v) {
  auto number = [&](long lo, long hi) -> std::optional<long> { return to_long(v, lo, hi); };
  if (flag == "--database-url") {
    c.database_url = v;
  } else if (flag == "--listen") {
    c.listen = v;
  } else if (flag == "--jwt-secret") {
    c.jwt_secret = v;
  } else if (flag == "--jwks-file") {
    c.jwks_file = v;
  } else if (flag == "--jwt-issuer") {
    c.jwt_issuer = v;
  } else if (flag == "--jwt-audience") {
    c.jwt_audience = v;
  } else if (flag == "--threads") {
    auto n = number(1, 256);
    if (!n) return flag + " must be between 1 and 256";
    c.threads = static_cast<int>(*n);
  } else if (flag == "--pool-size") {
    auto n = number(1, 1000);
    if (!n) return flag + " must be between 1 and 1000";
    c.pool_size = static_cast<int>(*n);
  } else if (flag == "--max-request-bytes") {
    auto n = number(1024, 1L << 30);
    if (!n) return flag + " must be between 1024 and 1073741824";
    c.max_request_bytes = *n;
  } else if (flag == "--max-upload-chunk-bytes") {
    auto n = number(65536, 1L << 30);
    if (!n) return flag + " must be between 65536 and 1073741824";
    c.max_upload_chunk_bytes = *n;
  } else if (flag == "--timeout-ms") {
    auto n = number(100, 3600000);
    if (!n) return flag + " must be between 100 and 3600000";
    c.timeout_ms = static_cast<int>(*n);
  } else if (flag == "--max-connections") {
    auto n = number(1, 1000000);
    if (!n) return flag + " must be between 1 and 1000000";
    c.max_connections = static_cast<int>(*n);
  } else if (flag == "--public-url") {
    std::string u = v;
    while (!u.empty() && u.back() == '/') u.pop_back();
    bool scheme = u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0;
    bool clean = true;
    for (unsigned char ch : u) clean = clean && ch > 0x20 && ch < 0x7f && ch != '?' && ch != '#';
    if (!scheme || !clean || u.size() < 9)
      return flag + " must be an http:// or https:// URL without query or spaces";
    c.public_url = u;
  } else if (flag == "--sub") {
    c.mint_sub = v;
  } else if (flag == "--tenant") {
    c.mint_tenant = v;
  } else if (flag == "--role") {
    c.mint_role = v;
  } else if (flag == "--email") {
    c.mint_email = v;
  } else if (flag == "--ttl") {
    auto n = number(1, 365L * 86400);
    if (!n) return flag + " must be a number of seconds";
    c.mint_ttl = *n;
  } else {
    return "unknown option " + flag + " (see --help)";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> parse_config(const std::vector<std::string>& args, Config& out,
                                        char* (*getenv_fn)(const char*)) {
  if (!getenv_fn) getenv_fn = std::getenv;
  for (const auto& o : kOptions) {
    const char* v = getenv_fn(o.env);
    if (v && *v) {
      if (auto err = assign(out, o.flag, v)) return std::string(o.env) + ": " + *err;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    }
    if (a == "--mint-dev-token") {
      out.mint_dev_token = true;
      continue;
    }
    std::string flag = a, value;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else {
      if (a.rfind("--", 0) != 0) return "unexpected argument " + a + " (see --help)";
      if (i + 1 >= args.size()) return "option " + a + " needs a value";
      value = args[++i];
    }
    if (auto err = assign(out, flag, value)) return err;
  }
  if (out.pool_size == 0) out.pool_size = out.threads;
  if (out.help) return std::nullopt;
  // A short HS256 secret can be brute-forced offline from any one token.
  if (!out.jwt_secret.empty() && out.jwt_secret.size() < kMinHs256SecretBytes)
    return "the HS256 secret (--jwt-secret) is " + std::to_string(out.jwt_secret.size()) +
           " bytes; at least " + std::to_string(kMinHs256SecretBytes) +
           " are required (e.g. openssl rand -hex 32)";
  if (out.mint_dev_token) {
    if (out.jwt_secret.empty()) return "--mint-dev-token needs the HS256 secret (--jwt-secret)";
    if (out.mint_sub.empty()) return "--mint-dev-token needs --sub";
    return std::nullopt;
  }
  if (out.database_url.empty()) return "the database URL is required (--database-url)";
  if (out.listen.find(':') == std::string::npos) return "--listen must be host:port";
  if (out.jwt_secret.empty() && out.jwks_file.empty())
    return "no token key: give --jwt-secret and/or --jwks-file";
  return std::nullopt;
}

long connection_cap(long configured, long fd_limit, int pool_size, int threads) {
  // Besides client sockets: the pool, an epoll and an event fd per worker, the listener,
  // stdio, libpq and OpenSSL files, and sockets accepted but not yet counted.
  long reserve = pool_size + 4L * threads + 64;
  long room = fd_limit - reserve;
  if (room < 1) room = 1;
  return configured < room ? configured : room;
}

std::string usage() {
  std::string u =
      "usage: coditect-gateway [options]\n"
      "       coditect-gateway --mint-dev-token --sub USER_ID --tenant TENANT_ID [--role owner]\n"
      "                        [--email E] [--ttl SECONDS]   (needs the HS256 secret)\n\n"
      "REST gateway of Coditect Core: maps HTTP onto the coditect stored functions.\n"
      "Every option can also be given by its environment variable; a flag wins.\n\n";
  for (const auto& o : kOptions) {
    u += "  ";
    u += o.flag;
    u += " VALUE  (";
    u += o.env;
    u += ")\n      ";
    u += o.help;
    u += "\n";
  }
  u += "  --help\n      this text\n";
  return u;
}

}  // namespace coditect::gateway
