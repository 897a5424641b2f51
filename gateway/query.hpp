// PG-free: query strings, list parameters and the filters object, pagination links.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace coditect::gateway {

using Params = std::vector<std::pair<std::string, std::string>>;

// Percent-decodes (and '+' -> space when form is true). nullopt on a bad escape or a NUL byte.
std::optional<std::string> percent_decode(std::string_view s, bool form = true);
// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_utf8(std::string_view s);
// Percent-encodes everything but unreserved characters (RFC 3986).
std::string percent_encode(std::string_view s);

// "a=1&b=x%20y" -> {{"a","1"},{"b","x y"}}; nullopt when an escape is malformed or a decoded
// key or value is not UTF-8.
std::optional<Params> parse_query(std::string_view query);

// The first key given more than once, if any (?role=a&role=b would otherwise be read as one).
std::optional<std::string> repeated_key(const Params& params);

// True when a string anywhere in j, key or value, holds a NUL character (\u0000): libpq
// passes parameters as C strings, which would end there.
bool json_has_nul(const nlohmann::json& j);

// 8-4-4-4-12 hexadecimal.
bool is_uuid(std::string_view s);

// Which query parameters an operation reads (from its params[].from).
struct QuerySpec {
  bool page = false, page_size = false, cursor = false, ordering = false, search = false;
  bool filters = false;             // every other key is a filter (the database checks its name)
  std::vector<std::string> fields;  // body fields also accepted as ?name=
  int default_page_size = 20, max_page_size = 200;
  bool keyset_default = false;  // no ?page= and no ?cursor=: keyset (true) or page 1 (false)
};

struct ListQuery {
  std::optional<long> page;  // nullopt: keyset
  int page_size = 20;
  bool page_size_given = false;
  std::optional<std::string> cursor, ordering, search;
  nlohmann::json filters = nlohmann::json::object();
  Params fields;  // body fields given in the query
};

// Reads query parameters as spec says: page (>= 1), page_size (1..max_page_size), cursor,
// ordering, search, filters, fields; anything else is an error. Returns the error text, or
// nullopt when fine.
std::optional<std::string> parse_list_query(const Params& params, const QuerySpec& spec,
                                            ListQuery& out);

// The list answer {count, next, previous, results} from the database's
// {count, results, next_cursor}. base_url is the configured public URL ("https://host" or
// "https://host/prefix"), or empty for relative links; path is the request path. Never
// built from the request's Host or X-Forwarded-* headers, which the client chooses.
nlohmann::json list_envelope(nlohmann::json db_result, const ListQuery& q,
                             const std::string& base_url, const std::string& path);

// URL (absolute with a base_url, else path and query) of another page of the same list:
// filters, ordering, search and page_size kept, the page or cursor replaced.
std::string page_url(const std::string& base_url, const std::string& path, const ListQuery& q,
                     std::optional<long> page, std::optional<std::string> cursor);

}  // namespace coditect::gateway
