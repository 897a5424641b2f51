// coditect-verify-token: offline verification of a coditect license token with only the public
// key, as published by the database (coditect.license_public_keys()).
//
//   coditect-verify-token --public-key FILE [--now UNIX_SECONDS] TOKEN|-
//
// FILE holds either a PEM public key (as `openssl pkey -pubout` writes it) or the 43-character
// base64url raw Ed25519 key. Prints {"valid":..,"verdict":..,"claims":{..}} on stdout (the same
// shape as coditect.license_verify()); exit code 0 for a valid token, 1 for an invalid one
// (malformed, bad signature, expired), 2 for usage errors (bad arguments, unreadable key).
#include "license_token.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lt = coditect::license_token;

namespace {

constexpr int kExitValid = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Usage: coditect-verify-token --public-key FILE [--now UNIX_SECONDS] TOKEN\n"
    "\n"
    "Verifies a coditect license token offline: the Ed25519 signature with the given public\n"
    "key, then the expiry against the current time (or --now).\n"
    "\n"
    "  --public-key FILE   a PEM public key (openssl pkey -pubout) or a file holding the\n"
    "                      43-character base64url raw key published by the database\n"
    "  --now UNIX_SECONDS  check expiry against this time instead of the clock\n"
    "  TOKEN               the token, or - to read it from standard input\n"
    "  -h, --help          show this help\n"
    "\n"
    "Prints the verdict and the decoded claims as JSON. Exit status: 0 valid token,\n"
    "1 invalid token (malformed, bad_signature, expired), 2 usage error.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw UsageError("cannot read " + path);
  return buf.str();
}

// The 32 raw public key bytes from a PEM key or a base64url raw key.
std::string load_public_key(const std::string& path) {
  std::string content = read_file(path);
  if (content.find("-----BEGIN") != std::string::npos) {
    try {
      return lt::raw_public_key_from_pem(content);
    } catch (const std::exception& e) {
      throw UsageError(path + ": " + e.what());
    }
  }
  std::string_view text = trim(content);
  auto raw = lt::base64url_decode(text);
  if (text.size() != 43 || !raw || raw->size() != 32) {
    throw UsageError(path + ": not a PEM Ed25519 key nor a 43-character base64url raw public key");
  }
  return *raw;
}

std::int64_t parse_seconds(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw UsageError("--now expects an integer number of Unix seconds, not '" + std::string(text) +
                     "'");
  }
  return value;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string public_key_file;
  std::optional<std::int64_t> now;
  std::optional<std::string> token;
  bool help = false;
};

Options parse_args(int argc, char** argv) {
  Options opts;
  bool have_key = false;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value_of = [&](std::string_view name) -> std::string {
      // --name VALUE or --name=VALUE
      if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
          arg[name.size()] == '=') {
        return std::string(arg.substr(name.size() + 1));
      }
      if (i + 1 >= argc) throw UsageError(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto is_option = [&](std::string_view name) {
      return arg == name || (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
                             arg[name.size()] == '=');
    };
    if (!options_done && (arg == "-h" || arg == "--help")) {
      opts.help = true;
    } else if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && is_option("--public-key")) {
      opts.public_key_file = value_of("--public-key");
      have_key = true;
    } else if (!options_done && is_option("--now")) {
      opts.now = parse_seconds(value_of("--now"));
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      throw UsageError("unknown option " + std::string(arg));
    } else {
      if (opts.token) throw UsageError("more than one token given");
      opts.token = std::string(arg);
    }
  }
  if (opts.help) return opts;
  if (!have_key || opts.public_key_file.empty()) throw UsageError("--public-key FILE is required");
  if (!opts.token) throw UsageError("no token given (pass it as an argument, or - for stdin)");
  return opts;
}

int run(int argc, char** argv) {
  Options opts = parse_args(argc, argv);
  if (opts.help) {
    std::cout << kUsage;
    return kExitValid;
  }
  std::string raw_key = load_public_key(opts.public_key_file);

  std::string token = *opts.token;
  if (token == "-") {
    token.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw UsageError("cannot read the token from standard input");
  }
  token = std::string(trim(token));

  lt::Verification v = lt::verify(token, raw_key, opts.now.value_or(unix_now()));
  nlohmann::ordered_json out;
  out["valid"] = v.verdict == lt::Verdict::Valid;
  out["verdict"] = lt::verdict_name(v.verdict);
  if (v.verdict != lt::Verdict::Malformed) {
    out["claims"] = nlohmann::ordered_json::parse(lt::encode_payload(v.claims));
  }
  std::cout << out.dump() << '\n';
  return v.verdict == lt::Verdict::Valid ? kExitValid : kExitInvalid;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "coditect-verify-token: " << e.what() << "\n"
              << "Try 'coditect-verify-token --help'.\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "coditect-verify-token: " << e.what() << "\n";
    return kExitUsage;
  }
}
