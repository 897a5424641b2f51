// The license token signer of pg_license.cpp, shared with the seat calls (pg_license_seats.cpp).
#pragma once

#include "license_token.hpp"

#include <string>

namespace coditect::pg {

// Signs `claims` (key_id filled in here) with the configured key; throws UserError when no
// key is configured.
std::string sign_license_token(coditect::license_token::Claims& claims);

// coditect.license_session_ttl, in seconds.
int license_session_ttl_seconds();

}  // namespace coditect::pg
