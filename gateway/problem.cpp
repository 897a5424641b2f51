#include "problem.hpp"

#include <nlohmann/json.hpp>

namespace coditect::gateway {

namespace {

bool is_class(std::string_view s, std::string_view cls) { return s.substr(0, 2) == cls; }

}  // namespace

ErrorMapping map_sqlstate(std::string_view s) {
  if (s.size() != 5) return {500, false};
  if (s[0] == 'C' && s[1] == 'D') {
    int n = 0;
    for (char c : s.substr(2)) {
      if (c < '0' || c > '9') return {500, false};
      n = n * 10 + (c - '0');
    }
    if (n < 400 || n > 599) return {500, false};
    return {n, false};
  }
  if (s == "23505" || s == "23503") return {409, false};
  if (s == "23514" || s == "23P01") return {422, false};
  if (s == "23502") return {400, false};  // a required value is missing
  if (is_class(s, "23")) return {409, false};
  if (s == "22P02" || s == "22007" || s == "22023" || s == "22001" || s == "22003" || s == "22008")
    return {400, false};
  if (is_class(s, "22")) return {400, false};  // any other data exception (encoding, ...)
  if (s == "42501") return {403, false};
  if (s == "P0002") return {404, false};
  if (s == "40001" || s == "40P01") return {503, true};
  if (is_class(s, "08")) return {503, false};
  if (s == "57014") return {504, false};
  // The server is shutting down or starting: as unavailable as a lost connection.
  if (session_ended_by_server(s)) return {503, false};
  if (is_class(s, "53")) return {503, false};  // insufficient resources (too many connections)
  if (is_class(s, "54")) return {400, false};  // a value in the request exceeds a limit
  return {500, false};
}

bool session_ended_by_server(std::string_view s) {
  return s == "57P01" || s == "57P02" || s == "57P03" || s == "57P05";
}

std::string reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 423:
      return "Locked";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 460:
      return "Checksum Mismatch";  // tus checksum extension
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string safe_detail(std::string_view s, int status) {
  if (s == "23505") return "a unique value is already taken";
  if (s == "23503") return "the request references a resource that does not exist";
  if (s == "23514") return "a value breaks a rule of the resource";
  if (s == "23P01") return "the request overlaps an existing resource";
  if (s == "23502") return "a required value is missing";
  if (is_class(s, "23")) return "the request conflicts with the current state of the resource";
  if (s == "22P02") return "a value has the wrong type or format";
  if (s == "22007" || s == "22008") return "a date or time is invalid or out of range";
  if (s == "22023") return "a parameter has an invalid value";
  if (s == "22001") return "a value is too long";
  if (s == "22003") return "a number is out of range";
  if (is_class(s, "22")) return "the request contains invalid data";
  if (s == "42501") return "permission denied";
  if (s == "P0002") return "not found";
  if (s == "40001" || s == "40P01") return "the database is busy; retry the request";
  if (s == "57014") return "the request took too long and was cancelled";
  if (is_class(s, "54")) return "a value in the request exceeds a limit";
  if (status == 503) return "the database is unavailable; retry later";
  if (status >= 500) return "internal error";
  return reason_phrase(status);
}

Problem problem_from_db_error(std::string_view sqlstate, std::string_view message,
                              std::string_view hint, std::string_view constraint,
                              std::string_view column) {
  Problem p;
  ErrorMapping m = map_sqlstate(sqlstate);
  p.status = m.status;
  p.code = std::string(sqlstate);
  bool ours = sqlstate.size() == 5 && sqlstate.substr(0, 2) == "CD" && m.status != 500;
  if (ours) {
    p.detail = std::string(message);
    p.hint = std::string(hint);
  } else {
    p.detail = safe_detail(sqlstate, m.status);
    // Names of schema objects, never data: safe and useful to the client.
    if (is_class(sqlstate, "23")) {
      p.constraint = std::string(constraint);
      p.column = std::string(column);
    }
  }
  if (p.detail.empty()) p.detail = reason_phrase(p.status);
  return p;
}

Problem gateway_problem(int status, std::string detail) {
  Problem p;
  p.status = status;
  p.code = "CD" + std::to_string(status);
  p.detail = std::move(detail);
  return p;
}

std::string problem_json(const Problem& p, std::string_view instance) {
  nlohmann::json j;
  j["type"] = "about:blank";
  j["title"] = reason_phrase(p.status);
  j["status"] = p.status;
  j["detail"] = p.detail;
  j["code"] = p.code;
  if (!p.hint.empty()) j["hint"] = p.hint;
  if (!p.constraint.empty()) j["constraint"] = p.constraint;
  if (!p.column.empty()) j["column"] = p.column;
  if (!instance.empty()) j["instance"] = std::string(instance);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string header_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out.push_back(c);
  }
  return out;
}

}  // namespace coditect::gateway
