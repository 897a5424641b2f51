#include "workflow_definition.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <deque>
#include <map>
#include <regex>
#include <set>

namespace coditect::workflow {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// How a setting's value is checked, and written in the JSON Schema.
enum class Kind { Text, UserId, UserIds, Role, Period, Url };

struct Setting {
  const char* name;
  Kind kind;
  const char* description;
};

// Which settings a node type needs: at least one of `one_of` (exactly one when `exclusive`).
struct NodeType {
  const char* name;
  std::vector<Setting> settings;
  std::vector<const char*> one_of;
  bool exclusive;
};

constexpr const char* kUuidPattern =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
constexpr const char* kPeriodPattern = "^[1-9][0-9]{0,4} (minute|hour|day|week)s?$";
// The same rule as the coditect.url domain (sql/00_base.sql) that the outbox stores URLs in, so
// that a definition accepted here never fails at delivery time.
constexpr const char* kUrlPattern = "^https?://[^\\s/$.?#][^\\s]*$";
constexpr std::size_t kMaxUrlLength = 2000;
// coditect.member_role (sql/00_base.sql), lowest last; pgTAP 51 pins this copy to the enum.
const std::vector<std::string> kRoles = {"owner", "admin", "member", "guest"};
const std::vector<std::string> kOutcomes = {"approved", "rejected", "expired"};
constexpr std::size_t kMaxIdLength = 100;  // workflow_executions.current_step is varchar(100)

const std::vector<NodeType>& node_types() {
  static const std::vector<NodeType> types = {
      {"start", {}, {}, false},
      {"task",
       {{"title", Kind::Text, "What the step asks for"},
        {"assignee", Kind::UserId, "The user the step is assigned to"},
        {"queue", Kind::Text, "A queue the step is offered to, when no assignee"}},
       {},
       false},
      {"approval",
       {{"title", Kind::Text, "What is to be approved"},
        {"approvers", Kind::UserIds, "The users who may decide"},
        {"min_role", Kind::Role, "Members of this role or above may decide"},
        {"expire_after", Kind::Period,
         "The approval expires after this long (default: the workflow's, else 7 days)"}},
       {"approvers", "min_role"},
       true},
      {"notification",
       {{"webhook", Kind::Url, "An http(s) URL the notification is posted to"},
        {"channel", Kind::Text, "A named channel the notification is sent to"},
        {"message", Kind::Text, "The text sent"}},
       {"webhook", "channel"},
       false},
      {"condition", {}, {}, false},
      {"end", {}, {}, false},
  };
  return types;
}

const NodeType* find_type(const std::string& name) {
  for (const NodeType& t : node_types()) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

const Setting* find_setting(const NodeType& type, const std::string& name) {
  for (const Setting& s : type.settings) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

bool contains(const std::vector<std::string>& list, const std::string& v) {
  for (const std::string& s : list) {
    if (s == v) return true;
  }
  return false;
}

bool matches(const std::string& value, const char* pattern) {
  static std::map<const char*, std::regex> compiled;
  auto it = compiled.find(pattern);
  if (it == compiled.end()) it = compiled.emplace(pattern, std::regex(pattern)).first;
  return std::regex_match(value, it->second);
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// SQL/JSON path accessors: .key for identifiers, ."key" otherwise.
std::string member(const std::string& base, const std::string& key) {
  bool plain = !key.empty() && !(key[0] >= '0' && key[0] <= '9');
  for (char c : key) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) plain = false;
  }
  if (plain) return base + "." + key;
  return base + "." + json(key).dump();
}

std::string element(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

const char* json_type(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

struct Node {
  std::size_t index;
  std::string id;
  const NodeType* type;  // nullptr: unknown or missing
};

struct Edge {
  std::size_t index;
  std::size_t from;  // positions in Validator::nodes_
  std::size_t to;
};

class Validator {
 public:
  explicit Validator(const ConditionChecker& check_condition) : check_condition_(check_condition) {}

  std::vector<Problem> run(std::string_view text) {
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) {
      add("$", "invalid_json", "the definition is not JSON");
    } else if (!doc.is_object()) {
      add("$", "wrong_type",
          std::string("the definition must be an object, not ") + json_type(doc));
    } else {
      check_keys(doc, "$", {"nodes", "edges"});
      const json* nodes = array_field(doc, "$", "nodes");
      const json* edges = array_field(doc, "$", "edges");
      if (nodes) {
        for (std::size_t i = 0; i < nodes->size(); ++i) check_node((*nodes)[i], i);
      }
      if (edges) {
        for (std::size_t i = 0; i < edges->size(); ++i) check_edge((*edges)[i], i);
      }
      if (nodes) check_graph();
    }
    return std::move(problems_);
  }

 private:
  void add(std::string path, std::string code, std::string message) {
    problems_.push_back({std::move(path), std::move(code), std::move(message)});
  }

  void check_keys(const json& object, const std::string& path,
                  const std::vector<std::string>& allowed) {
    for (const auto& item : object.items()) {
      if (!contains(allowed, item.key())) {
        add(member(path, item.key()), "unknown_field", "unknown field " + in_quotes(item.key()));
      }
    }
  }

  const json* array_field(const json& object, const std::string& path, const std::string& key) {
    auto it = object.find(key);
    if (it == object.end()) {
      add(member(path, key), "missing_field", "the definition has no " + key);
      return nullptr;
    }
    if (!it->is_array()) {
      add(member(path, key), "wrong_type",
          key + " must be an array, not " + std::string(json_type(*it)));
      return nullptr;
    }
    return &*it;
  }

  // The string at object[key], or nullptr with a problem (missing, or not a string).
  const std::string* string_field(const json& object, const std::string& path,
                                  const std::string& key, bool required) {
    auto it = object.find(key);
    if (it == object.end()) {
      if (required) add(member(path, key), "missing_field", key + " is required");
      return nullptr;
    }
    if (!it->is_string()) {
      add(member(path, key), "wrong_type",
          key + " must be a string, not " + std::string(json_type(*it)));
      return nullptr;
    }
    return it->get_ptr<const std::string*>();
  }

  void check_node(const json& node, std::size_t i) {
    std::string path = element("$.nodes", i);
    if (!node.is_object()) {
      add(path, "wrong_type", std::string("a node must be an object, not ") + json_type(node));
      return;
    }
    check_keys(node, path, {"id", "type", "name", "settings"});
    string_field(node, path, "name", false);
    const NodeType* type = nullptr;
    if (const std::string* t = string_field(node, path, "type", true)) {
      type = find_type(*t);
      if (!type) {
        add(path + ".type", "unknown_node_type",
            "unknown node type " + in_quotes(*t) +
                " (start, task, approval, notification, condition or end)");
      }
    }
    if (type) check_settings(node, path, *type);
    const std::string* id = string_field(node, path, "id", true);
    if (!id) return;
    if (id->empty() || id->size() > kMaxIdLength) {
      add(path + ".id", "invalid_id", "a node id has 1 to 100 characters");
      return;
    }
    auto [it, added] = node_by_id_.emplace(*id, nodes_.size());
    if (!added) {
      add(path + ".id", "duplicate_id",
          "node id " + in_quotes(*id) + " is already used by " +
              element("$.nodes", nodes_[it->second].index));
      return;
    }
    nodes_.push_back({i, *id, type});
  }

  void check_settings(const json& node, const std::string& node_path, const NodeType& type) {
    std::string path = node_path + ".settings";
    auto it = node.find("settings");
    static const json empty = json::object();
    const json* settings = &empty;
    if (it != node.end()) {
      if (!it->is_object()) {
        add(path, "wrong_type", std::string("settings must be an object, not ") + json_type(*it));
        return;
      }
      settings = &*it;
    }
    for (const auto& item : settings->items()) {
      const Setting* s = find_setting(type, item.key());
      if (!s) {
        add(member(path, item.key()), "unknown_setting",
            std::string("a ") + type.name + " node has no setting " + in_quotes(item.key()));
        continue;
      }
      check_setting(item.value(), member(path, item.key()), *s);
    }
    if (type.one_of.empty()) return;
    std::vector<std::string> present;
    std::string names;
    for (const char* name : type.one_of) {
      if (settings->contains(name)) present.push_back(name);
      names += names.empty() ? name : std::string(" or ") + name;
    }
    if (present.empty()) {
      add(path, "missing_setting", std::string("a ") + type.name + " node needs " + names);
    } else if (type.exclusive && present.size() > 1) {
      add(path, "conflicting_settings",
          std::string("a ") + type.name + " node has " + names + ", not both");
    }
  }

  void check_setting(const json& value, const std::string& path, const Setting& s) {
    std::string name = in_quotes(s.name);
    if (s.kind == Kind::UserIds) {
      if (!value.is_array() || value.empty()) {
        add(path, "invalid_setting", name + " must be a non-empty array of user ids");
        return;
      }
      std::set<std::string> seen;
      for (std::size_t i = 0; i < value.size(); ++i) {
        const json& v = value[i];
        if (!v.is_string() || !matches(v.get<std::string>(), kUuidPattern)) {
          add(element(path, i), "invalid_setting", "not a user id (a UUID)");
        } else if (!seen.insert(v.get<std::string>()).second) {
          add(element(path, i), "invalid_setting",
              "user " + v.get<std::string>() + " is listed twice");
        }
      }
      return;
    }
    if (!value.is_string()) {
      add(path, "invalid_setting",
          name + " must be a string, not " + std::string(json_type(value)));
      return;
    }
    const std::string& v = value.get_ref<const std::string&>();
    switch (s.kind) {
      case Kind::Text:
        if (v.empty()) add(path, "invalid_setting", name + " must not be empty");
        break;
      case Kind::UserId:
        if (!matches(v, kUuidPattern))
          add(path, "invalid_setting", name + " must be a user id (a UUID)");
        break;
      case Kind::Role:
        if (!contains(kRoles, v)) {
          add(path, "invalid_setting", name + " must be owner, admin, member or guest");
        }
        break;
      case Kind::Period:
        if (!matches(v, kPeriodPattern)) {
          add(path, "invalid_setting",
              name + " must be a period such as \"7 days\" (minutes, hours, days or weeks)");
        }
        break;
      case Kind::Url:
        if (!matches(v, kUrlPattern) || v.size() > kMaxUrlLength)
          add(path, "invalid_setting", name + " must be an http(s) URL of at most 2000 characters");
        break;
      case Kind::UserIds:
        break;
    }
  }

  // Resolves edge[key] to a node; nullptr (with a problem) when it names none.
  const Node* endpoint(const json& edge, const std::string& path, const std::string& key) {
    const std::string* id = string_field(edge, path, key, true);
    if (!id) return nullptr;
    auto it = node_by_id_.find(*id);
    if (it == node_by_id_.end()) {
      add(member(path, key), "dangling_edge", "no node has the id " + in_quotes(*id));
      return nullptr;
    }
    return &nodes_[it->second];
  }

  void check_edge(const json& edge, std::size_t i) {
    std::string path = element("$.edges", i);
    if (!edge.is_object()) {
      add(path, "wrong_type", std::string("an edge must be an object, not ") + json_type(edge));
      return;
    }
    check_keys(edge, path, {"from", "to", "condition", "on"});
    const Node* from = endpoint(edge, path, "from");
    const Node* to = endpoint(edge, path, "to");
    std::string from_type = from && from->type ? from->type->name : "";
    const std::string* condition = string_field(edge, path, "condition", false);
    if (condition) {
      if (condition->empty()) {
        add(path + ".condition", "invalid_condition", "the condition is empty");
      } else if (check_condition_) {
        if (auto error = check_condition_(*condition)) {
          add(path + ".condition", "invalid_condition",
              "not an SQL/JSON path predicate: " + *error);
        }
      }
      if (from && from->type && from_type != "condition") {
        add(path + ".condition", "condition_not_allowed",
            "only edges from a condition node have a condition, not one from " + from_type +
                " node " + in_quotes(from->id));
      }
    }
    const std::string* on = string_field(edge, path, "on", false);
    if (on) {
      if (!contains(kOutcomes, *on)) {
        add(path + ".on", "unknown_outcome",
            "unknown outcome " + in_quotes(*on) + " (approved, rejected or expired)");
      }
      if (from && from->type && from_type != "approval") {
        add(path + ".on", "on_not_allowed",
            "only edges from an approval node have an outcome, not one from " + from_type +
                " node " + in_quotes(from->id));
      }
    }
    if (from && from_type == "end") {
      add(path + ".from", "edge_from_end", "end node " + in_quotes(from->id) + " has no next node");
    }
    if (to && to->type && std::string(to->type->name) == "start") {
      add(path + ".to", "edge_into_start", "no edge leads back to start node " + in_quotes(to->id));
    }
    if (from && (from_type == "start" || from_type == "task" || from_type == "notification")) {
      auto [it, first] = single_next_.emplace(from->id, i);
      if (!first) {
        add(path, "several_next",
            from_type + " node " + in_quotes(from->id) + " already goes on by " +
                element("$.edges", it->second) + " (parallel branches are not supported)");
      }
    }
    if (from && from_type == "condition") {
      if (edge.contains("condition")) {  // ill-typed or not, it is no default
        conditional_.insert(from->id);
      } else {
        auto [it, first] = default_.emplace(from->id, i);
        if (!first) {
          add(path, "several_defaults",
              "condition node " + in_quotes(from->id) + " already has a default edge, " +
                  element("$.edges", it->second) + " (give this one a condition)");
        }
      }
    }
    if (from && from_type == "approval") {
      if (!edge.contains("on")) {
        add(path + ".on", "missing_field",
            "an edge from approval node " + in_quotes(from->id) +
                " says which outcome it follows (approved, rejected or expired)");
      } else if (on && contains(kOutcomes, *on)) {
        auto [it, first] = outcomes_.emplace(from->id + "\n" + *on, i);
        if (!first) {
          add(path + ".on", "duplicate_outcome",
              "approval node " + in_quotes(from->id) + " already follows " + in_quotes(*on) +
                  " by " + element("$.edges", it->second));
        }
      }
    }
    if (from && to) edges_.push_back({i, node_by_id_[from->id], node_by_id_[to->id]});
  }

  // Nodes reached from `roots` following edges forwards, or backwards when `reverse`.
  std::vector<bool> reach(const std::vector<std::size_t>& roots, bool reverse) const {
    std::vector<bool> seen(nodes_.size(), false);
    std::deque<std::size_t> todo(roots.begin(), roots.end());
    for (std::size_t r : roots) seen[r] = true;
    while (!todo.empty()) {
      std::size_t n = todo.front();
      todo.pop_front();
      for (const Edge& e : edges_) {
        std::size_t a = reverse ? e.to : e.from;
        std::size_t b = reverse ? e.from : e.to;
        if (a == n && !seen[b]) {
          seen[b] = true;
          todo.push_back(b);
        }
      }
    }
    return seen;
  }

  void check_graph() {
    std::vector<std::size_t> starts;
    std::vector<std::size_t> ends;
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      const Node& node = nodes_[n];
      if (!node.type) continue;
      std::string type = node.type->name;
      std::string path = element("$.nodes", node.index);
      if (type == "start") {
        if (!starts.empty()) {
          add(path + ".type", "several_starts",
              "a workflow has one start node; " + element("$.nodes", nodes_[starts[0]].index) +
                  " is one already");
        }
        starts.push_back(n);
      } else if (type == "end") {
        ends.push_back(n);
      } else if (type == "condition") {
        if (!conditional_.count(node.id)) {
          add(path, "missing_conditional_edge",
              "condition node " + in_quotes(node.id) + " has no edge with a condition");
        }
        if (!default_.count(node.id)) {
          add(path, "missing_default_edge",
              "condition node " + in_quotes(node.id) +
                  " has no default edge (one edge without a condition, taken when none holds)");
        }
      } else if (type == "approval" && !outcomes_.count(node.id + "\napproved")) {
        add(path, "missing_outcome",
            "approval node " + in_quotes(node.id) + " has no edge on \"approved\"");
      }
    }
    if (starts.empty()) add("$.nodes", "no_start", "the workflow has no start node");
    if (ends.empty()) add("$.nodes", "no_end", "the workflow has no end node");
    std::vector<bool> from_start = reach(starts, false);
    std::vector<bool> to_end = reach(ends, true);
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      std::string path = element("$.nodes", nodes_[n].index);
      if (!starts.empty() && !from_start[n]) {
        add(path, "unreachable",
            "node " + in_quotes(nodes_[n].id) + " cannot be reached from the start");
      }
      if (!ends.empty() && !to_end[n]) {
        add(path, "no_path_to_end",
            "no path leads from node " + in_quotes(nodes_[n].id) + " to an end");
      }
    }
  }

  const ConditionChecker& check_condition_;
  std::vector<Problem> problems_;
  std::vector<Node> nodes_;  // first node of each id, in document order
  std::map<std::string, std::size_t> node_by_id_;
  std::vector<Edge> edges_;                         // edges between known nodes
  std::map<std::string, std::size_t> single_next_;  // start/task/notification id -> its edge
  std::set<std::string> conditional_;               // condition nodes with a conditional edge
  std::map<std::string, std::size_t> default_;      // condition node id -> its default edge
  std::map<std::string, std::size_t> outcomes_;     // approval id + "\n" + outcome -> its edge
};

ordered_json setting_schema(const Setting& s) {
  ordered_json uuid = {{"type", "string"}, {"pattern", kUuidPattern}};
  ordered_json out;
  switch (s.kind) {
    case Kind::Text:
      out = {{"type", "string"}, {"minLength", 1}};
      break;
    case Kind::UserId:
      out = uuid;
      break;
    case Kind::UserIds:
      out = {{"type", "array"}, {"items", uuid}, {"minItems", 1}, {"uniqueItems", true}};
      break;
    case Kind::Role:
      out = {{"enum", kRoles}};
      break;
    case Kind::Period:
      out = {{"type", "string"}, {"pattern", kPeriodPattern}};
      break;
    case Kind::Url:
      out = {{"type", "string"}, {"pattern", kUrlPattern}};
      break;
  }
  out["description"] = s.description;
  return out;
}

}  // namespace

std::vector<Problem> validate(std::string_view definition_json,
                              const ConditionChecker& check_condition) {
  return Validator(check_condition).run(definition_json);
}

std::string problems_json(const std::vector<Problem>& problems) {
  ordered_json out = ordered_json::array();
  for (const Problem& p : problems) {
    out.push_back({{"path", p.path}, {"code", p.code}, {"message", p.message}});
  }
  return out.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string definition_schema() {
  ordered_json node_id = {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxIdLength}};
  ordered_json type_names = ordered_json::array();
  ordered_json per_type = ordered_json::array();
  ordered_json defs;
  defs["node_id"] = node_id;
  for (const NodeType& t : node_types()) {
    type_names.push_back(t.name);
    ordered_json settings = {{"type", "object"}, {"properties", ordered_json::object()}};
    for (const Setting& s : t.settings) settings["properties"][s.name] = setting_schema(s);
    settings["additionalProperties"] = false;
    if (!t.one_of.empty()) {
      ordered_json alternatives = ordered_json::array();
      for (const char* name : t.one_of)
        alternatives.push_back({{"required", ordered_json::array({name})}});
      settings[t.exclusive ? "oneOf" : "anyOf"] = alternatives;
    }
    std::string def = std::string(t.name) + "_settings";
    defs[def] = settings;
    ordered_json then = {{"properties", {{"settings", {{"$ref", "#/$defs/" + def}}}}}};
    if (!t.one_of.empty()) then["required"] = ordered_json::array({"settings"});
    per_type.push_back({{"if", {{"properties", {{"type", {{"const", t.name}}}}}}}, {"then", then}});
  }
  defs["node"] = {{"type", "object"},
                  {"required", {"id", "type"}},
                  {"properties",
                   {{"id", {{"$ref", "#/$defs/node_id"}}},
                    {"type", {{"enum", type_names}}},
                    {"name", {{"type", "string"}}},
                    {"settings", {{"type", "object"}}}}},
                  {"additionalProperties", false},
                  {"allOf", per_type}};
  defs["edge"] = {
      {"type", "object"},
      {"required", {"from", "to"}},
      {"properties",
       {{"from", {{"$ref", "#/$defs/node_id"}}},
        {"to", {{"$ref", "#/$defs/node_id"}}},
        {"condition",
         {{"type", "string"},
          {"minLength", 1},
          {"description",
           "An SQL/JSON path predicate over the execution's context_data (jsonb_path_match); "
           "edges from condition nodes only"}}},
        {"on",
         {{"enum", kOutcomes},
          {"description",
           "The approval outcome the edge follows; edges from approval nodes only"}}}}},
      {"additionalProperties", false}};
  ordered_json schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"title", "Coditect workflow definition"},
      {"description",
       "Nodes and the edges between them. The graph rules (one start node, every node reachable "
       "from it and leading to an end, edges per node type, condition syntax) are checked by "
       "coditect.workflow_definition_problems()."},
      {"type", "object"},
      {"required", {"nodes", "edges"}},
      {"properties",
       {{"nodes", {{"type", "array"}, {"items", {{"$ref", "#/$defs/node"}}}}},
        {"edges", {{"type", "array"}, {"items", {{"$ref", "#/$defs/edge"}}}}}}},
      {"additionalProperties", false},
      {"$defs", defs}};
  return schema.dump();
}

}  // namespace coditect::workflow
