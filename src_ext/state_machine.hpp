// State machines as data: the allowed (from, to) pairs of one machine, loaded from
// coditect.state_transitions by the glue (pg_transition.cpp). An empty `from` is the initial
// state of a new row. PG-free so the rules can be unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coditect {

struct Transition {
  std::string from;  // empty: allowed as the status of a new row
  std::string to;
  std::string stamp_column;  // set to now() on this transition; empty for none
};

class StateMachine {
 public:
  explicit StateMachine(std::string name) : name_(std::move(name)) {}

  void add(Transition t) { transitions_.push_back(std::move(t)); }
  bool empty() const { return transitions_.empty(); }
  const std::string& name() const { return name_; }

  // The transition from `from` (nullopt for a new row) to `to`, or nullptr if not allowed.
  const Transition* find(std::optional<std::string_view> from, std::string_view to) const;

  // "license_session: cannot go from 'ended' to 'active' (from 'ended': none)".
  std::string rejection(std::optional<std::string_view> from, std::string_view to) const;

 private:
  std::string name_;
  std::vector<Transition> transitions_;
};

}  // namespace coditect
