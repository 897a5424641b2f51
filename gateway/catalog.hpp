// PG-free: the resource catalog that coditect.api_catalog() publishes (contract:
// notes/catalog-spec.md), parsed and checked once per load. Routes and OpenAPI are derived
// from it; nothing in the gateway names a resource.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace coditect::gateway {

// A load that fails keeps the previous catalog; the message names the offending entry.
struct CatalogError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The type part of a column, an array's items or a composite attribute.
struct ValueType {
  std::string json_type = "any";  // string|integer|number|boolean|object|array|any
  std::string format;             // uuid, date-time, ... or empty
  std::string enum_type;          // name of an enum in Catalog::types, or empty
  std::string resource;           // an object that is a row of this resource, or empty
  std::string composite;          // an object of this composite type in Catalog::types, or empty
  std::optional<long> max_length;
  std::string description;
  bool nullable = false;
  std::shared_ptr<ValueType> items;  // arrays
};

struct Column {
  std::string name;
  ValueType type;
  bool read = true, create = false, update = false, required = false, has_default = false;
};

struct CatalogType {
  std::string name;
  std::string kind;  // enum|composite
  std::vector<std::string> values;
  std::vector<Column> attributes;  // composite: only the type fields are meaningful
  std::string description;
};

struct Filter {
  std::string name, column, op;  // op: exact|in|isnull|gt|gte|lt|lte|contains
};

struct Resource {
  std::string name, plural, schema_name, path, item_path, description;
  bool singleton = false, soft_delete = false, search = false, keyset_default = false;
  bool row_access = false;                  // rows seen by grants beyond the tenant (documents)
  std::optional<std::string> parent_param;  // path parameter naming the parent row
  std::vector<Column> columns;
  std::vector<Filter> filters;
  std::vector<std::string> orderings;
  std::string default_ordering;
  int page_size = 20, max_page_size = 200;
  nlohmann::json example;  // a valid create body, or null
  const Column* column(const std::string& name) const;
};

// Where one $n of an operation's statement comes from (params[].from).
enum class Source {
  Path,        // {name} of the path (a UUID)
  Filters,     // every other query parameter, as a JSON object of strings
  Page,        // ?page= ("1" by default unless the resource pages by keyset)
  PageSize,    // ?page_size=
  Cursor,      // ?cursor=
  Ordering,    // ?ordering=
  Search,      // ?search=
  Body,        // the JSON body object
  BodyField,   // one field of the body, as text (also ?name= when also_query)
  IfMatch,     // the If-Match header verbatim
  ClientIp,    // the peer's address
  UserAgent,   // the User-Agent header
  TokenSub,    // the token's subject (code-defined routes only)
  TokenEmail,  // the token's email claim, else the body field `name` (code-defined routes only)
  Header,      // the request header `name`, as sent (absent: NULL)
  BodyOctets,  // the raw body, as bytes (bytea), up to the upload chunk limit
};

// The HTTP protocol an operation speaks (its response "protocol"): JSON by default; tus 1.0
// (creation, HEAD, PATCH; see protocol.hpp) or a streamed file.
enum class Protocol { Json, TusCreate, TusStatus, TusAppend, Content };

struct Param {
  Source from = Source::Body;
  std::string name;
  bool required = false;
  bool also_query = false;
  bool secret = false;  // a path parameter that is a secret (a share's token): never logged
  ValueType type;       // body fields: json_type and format are checked by the gateway
};

enum class Auth { None, Bearer, Register };
enum class ResultKind { List, Row, Json, Void };

struct Operation {
  std::string operation_id;  // also the prepared statement's name
  std::string resource;      // empty: none
  std::string kind;          // list|get|create|update|delete|action (or operational)
  std::string method;        // GET|POST|PUT|PATCH|DELETE
  std::string path;
  std::string summary, permission;
  Auth auth = Auth::Bearer;
  std::string sql;
  std::vector<Param> params;
  ResultKind result = ResultKind::Json;
  int status = 200;
  bool etag = false;
  nlohmann::json request;   // null, {resource, mode} or {fields: [...]}
  nlohmann::json response;  // null, {resource}, {type[, array]} or {protocol[, max_size]}
  Protocol protocol = Protocol::Json;
  long max_size = 0;    // tus: the largest upload any tenant may declare (Tus-Max-Size)
  bool writes = false;  // a GET that records something (a read): a read-write transaction
  bool secret = false;  // the answer holds a secret shown once: never stored (idempotency keys)
  // response.null_answer: an answer of SQL NULL is this 404 (a public share's "not found",
  // whose function committed what it counted), rather than a JSON null.
  std::optional<std::string> null_answer_detail;
  bool read_only() const { return method == "GET" && !writes; }
  bool takes(Source s) const;
};

struct Catalog {
  std::string version;
  std::vector<CatalogType> types;
  std::vector<Resource> resources;
  std::vector<Operation> operations;
  // JSON Schemas published as they are (OpenAPI components), by name: WorkflowDefinition.
  std::map<std::string, nlohmann::json> schemas;
  const Resource* resource(const std::string& name) const;
  const CatalogType* type(const std::string& name) const;
};

// Parses and checks api_catalog()'s JSON. Throws CatalogError.
Catalog parse_catalog(const nlohmann::json& j);
Catalog parse_catalog_text(const std::string& text);

// "license_grant" -> "LicenseGrant".
std::string pascal_case(const std::string& snake);

}  // namespace coditect::gateway
