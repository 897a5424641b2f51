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
  int timeout_ms = 10000;
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

}  // namespace coditect::gateway
