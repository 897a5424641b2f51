// PG-free: the route table derived from the catalog's operations plus the operational routes
// kept in code (/health/, /api/schema/, POST /api/v1/auth/register), and matching of a
// method and path through a segment trie (no scan of the table per request).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog.hpp"

namespace coditect::gateway {

enum class RouteKind {
  Call,    // one stored function (catalog operations and registration)
  Health,  // SELECT 1 on a pooled connection
  Schema,  // the OpenAPI document
};

struct Route {
  RouteKind kind = RouteKind::Call;
  Operation op;
  const Resource* resource = nullptr;    // the operation's resource, if any
  std::vector<std::string> path_params;  // names of the path's {params}, in order
};

struct RouteMatch {
  const Route* route = nullptr;                                  // when method and path match
  std::vector<std::pair<std::string, std::string>> path_params;  // name, value (not yet checked)
  bool path_known = false;           // some route has this path (405 rather than 404)
  std::vector<std::string> allowed;  // the methods of that path
};

class RouteTable {
 public:
  // Throws CatalogError when two routes share a method and path.
  explicit RouteTable(Catalog catalog);
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Paths match with or without the trailing slash; "//" matches nothing. A literal segment
  // wins over a {param} at the same place ("/licenses/acquire" before "/licenses/{id}").
  RouteMatch match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  struct Node {
    std::map<std::string, int, std::less<>> literal;   // segment -> node index
    int param = -1;                                    // the {param} child, if any
    std::vector<std::pair<std::string, int>> methods;  // method -> route index
  };
  void insert(int route_index);
  int find(int node, const std::vector<std::string_view>& segs, size_t i,
           std::vector<std::string_view>& values) const;

  Catalog catalog_;
  std::vector<Route> routes_;
  std::vector<Node> nodes_;
};

// The operations the gateway defines itself (registration needs the token's subject).
std::vector<Route> operational_routes();

// The statements the gateway runs besides the routes' (name, SQL): "gw:" names, which no
// operation_id can take.
const std::vector<std::pair<std::string, std::string>>& fixed_statements();

}  // namespace coditect::gateway
