// The argument rules of coditect.set_request_context(), free of PostgreSQL so that GoogleTest
// covers them: the member roles and their order, and the shapes of a request method and id.
#pragma once

#include <string_view>

namespace coditect::context {

// A member role's rank, the enum coditect.member_role's order from the least privileged:
// guest 1, member 2, admin 3, owner 4; 0 for anything else (case matters, as in SQL).
int role_rank(std::string_view role);

// The role of `rank` (1 to 4), or nullptr.
const char* role_name(int rank);

// 1 to 10 upper-case ASCII letters (GET, PATCH, ...).
bool valid_request_method(std::string_view method);

// 1 to 128 of A-Z a-z 0-9 . _ : - (the gateway's request id, joined to its log lines).
bool valid_request_id(std::string_view id);

}  // namespace coditect::context
