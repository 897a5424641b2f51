#include "state_machine.hpp"

namespace coditect {

const Transition* StateMachine::find(std::optional<std::string_view> from,
                                     std::string_view to) const {
  std::string_view f = from.value_or(std::string_view{});
  for (const Transition& t : transitions_) {
    if (t.from == f && t.to == to) return &t;
  }
  return nullptr;
}

std::string StateMachine::rejection(std::optional<std::string_view> from,
                                    std::string_view to) const {
  std::string allowed;
  std::string_view f = from.value_or(std::string_view{});
  for (const Transition& t : transitions_) {
    if (t.from != f) continue;
    if (!allowed.empty()) allowed += ", ";
    allowed += "'" + t.to + "'";
  }
  if (allowed.empty()) allowed = "none";
  std::string msg = name_ + ": ";
  if (from) {
    msg += "cannot go from '" + std::string(*from) + "' to '" + std::string(to) + "' (from '" +
           std::string(*from) + "': " + allowed + ")";
  } else {
    msg += "cannot start in '" + std::string(to) + "' (a new row starts in: " + allowed + ")";
  }
  return msg;
}

}  // namespace coditect
