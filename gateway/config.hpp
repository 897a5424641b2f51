// PG-free: command-line flags and their environment variables.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace coditect::gateway {

struct Config {
  std::string database_url;
  std::string listen = "127.0.0.1:8080";
  std::string jwt_secret;
  std::string jwks_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  int threads = 8;
  int pool_size = 0;  // 0: as many as threads
  long max_request_bytes = 1 << 20;
  // The largest body of a request whose body is raw bytes (an upload's PATCH): each one is
  // held in memory whole, so this bounds an upload's memory per connection.
  long max_upload_chunk_bytes = 8L << 20;
  int timeout_ms = 10000;
  // Concurrent client connections; past it a new connection gets 503 and is closed.
  int max_connections = 4096;
  // Scheme, host and optional path prefix of the gateway as clients reach it (no trailing
  // slash); empty: pagination links are relative (path and query).
  std::string public_url;
  bool help = false;
  // --mint-dev-token: print an HS256 token signed with the secret and exit.
  bool mint_dev_token = false;
  std::string mint_sub, mint_tenant, mint_role = "owner", mint_email;
  long mint_ttl = 3600;
};

// Flags win over the environment (getenv). Returns an error message, or nullopt.
std::optional<std::string> parse_config(const std::vector<std::string>& args, Config& out,
                                        char* (*getenv_fn)(const char*) = nullptr);

std::string usage();

// The shortest HS256 secret accepted (RFC 7518 section 3.2: at least the hash size).
constexpr size_t kMinHs256SecretBytes = 32;

// The connection cap actually used: the configured one, lowered so that the connections, the
// database pool and the gateway's own descriptors stay under the descriptor limit.
long connection_cap(long configured, long fd_limit, int pool_size, int threads);

}  // namespace coditect::gateway
