#include "request_context_rules.hpp"

namespace coditect::context {

namespace {

// Index + 1 is the rank.
constexpr const char* kRoles[] = {"guest", "member", "admin", "owner"};

bool ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool ascii_alnum(char c) {
  return ascii_upper(c) || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

int role_rank(std::string_view role) {
  for (int i = 0; i < 4; ++i) {
    if (role == kRoles[i]) return i + 1;
  }
  return 0;
}

const char* role_name(int rank) { return rank >= 1 && rank <= 4 ? kRoles[rank - 1] : nullptr; }

bool valid_request_method(std::string_view method) {
  if (method.empty() || method.size() > 10) return false;
  for (char c : method) {
    if (!ascii_upper(c)) return false;
  }
  return true;
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!ascii_alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
  }
  return true;
}

}  // namespace coditect::context
