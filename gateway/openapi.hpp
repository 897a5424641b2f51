// PG-free: the OpenAPI 3.1 document derived from the route table, exact enough for
// openapi-typescript to generate exact types (required and nullable fields, enums as string
// literals, separate create and update inputs, the list envelope, ETag and If-Match).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace coditect::gateway {

// server_url: the public URL ("https://api.example.com"), or empty (no servers entry).
nlohmann::json openapi_document(const RouteTable& table, const std::string& server_url);

}  // namespace coditect::gateway
