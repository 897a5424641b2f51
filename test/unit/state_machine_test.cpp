// Unit tests for the PG-free data-driven state machines (src_ext/state_machine.hpp).
#include "state_machine.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace coditect {
namespace {

// The license_session machine as sql/80_licenses.sql loads it into coditect.state_transitions.
StateMachine license_session() {
  StateMachine m("license_session");
  m.add({"", "active", ""});
  m.add({"active", "zombie", ""});
  m.add({"zombie", "active", ""});
  m.add({"active", "ended", "ended_at"});
  m.add({"zombie", "ended", "ended_at"});
  return m;
}

// A machine with two initial states and stamps on several transitions.
StateMachine order() {
  StateMachine m("order");
  m.add({"", "draft", ""});
  m.add({"", "placed", "placed_at"});
  m.add({"draft", "placed", "placed_at"});
  m.add({"placed", "shipped", "shipped_at"});
  m.add({"placed", "cancelled", "cancelled_at"});
  m.add({"draft", "cancelled", "cancelled_at"});
  return m;
}

TEST(StateMachineTest, NameAndEmpty) {
  StateMachine m("x");
  EXPECT_EQ(m.name(), "x");
  EXPECT_TRUE(m.empty());
  m.add({"", "a", ""});
  EXPECT_FALSE(m.empty());
  EXPECT_FALSE(license_session().empty());
  EXPECT_EQ(license_session().name(), "license_session");
}

TEST(StateMachineTest, FindInitialTransitions) {
  StateMachine m = license_session();
  const Transition* t = m.find(std::nullopt, "active");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->from, "");
  EXPECT_EQ(t->to, "active");
  EXPECT_EQ(t->stamp_column, "");
  // Only `active` is an allowed initial state.
  EXPECT_EQ(m.find(std::nullopt, "zombie"), nullptr);
  EXPECT_EQ(m.find(std::nullopt, "ended"), nullptr);
  EXPECT_EQ(m.find(std::nullopt, ""), nullptr);

  StateMachine o = order();
  ASSERT_NE(o.find(std::nullopt, "draft"), nullptr);
  ASSERT_NE(o.find(std::nullopt, "placed"), nullptr);
  EXPECT_EQ(o.find(std::nullopt, "placed")->stamp_column, "placed_at");
  EXPECT_EQ(o.find(std::nullopt, "shipped"), nullptr);
}

TEST(StateMachineTest, FindNormalTransitions) {
  StateMachine m = license_session();
  struct Case {
    const char* from;
    const char* to;
    const char* stamp;
  };
  for (const Case& c : {Case{"active", "zombie", ""}, Case{"zombie", "active", ""},
                        Case{"active", "ended", "ended_at"}, Case{"zombie", "ended", "ended_at"}}) {
    const Transition* t = m.find(std::string_view(c.from), c.to);
    ASSERT_NE(t, nullptr) << c.from << " -> " << c.to;
    EXPECT_EQ(t->from, c.from);
    EXPECT_EQ(t->to, c.to);
    EXPECT_EQ(t->stamp_column, c.stamp) << c.from << " -> " << c.to;
  }
}

TEST(StateMachineTest, MissingTransitionsReturnNull) {
  StateMachine m = license_session();
  struct Case {
    const char* from;
    const char* to;
  };
  for (const Case& c : {
           Case{"ended", "active"},
           Case{"ended", "zombie"},
           Case{"ended", "ended"},
           Case{"active", "active"},  // no implicit self-transitions
           Case{"zombie", "zombie"},
           Case{"active", "unknown"},
           Case{"unknown", "active"},
           Case{"Active", "zombie"},  // case-sensitive
           Case{"active", "ZOMBIE"},
           Case{"active ", "zombie"},
       }) {
    EXPECT_EQ(m.find(std::string_view(c.from), c.to), nullptr) << c.from << " -> " << c.to;
  }
  StateMachine empty("empty");
  EXPECT_EQ(empty.find(std::nullopt, "a"), nullptr);
  EXPECT_EQ(empty.find(std::string_view("a"), "b"), nullptr);
}

TEST(StateMachineTest, FindReturnsTheStoredTransition) {
  StateMachine o = order();
  const Transition* a = o.find(std::string_view("placed"), "shipped");
  const Transition* b = o.find(std::string_view("placed"), "shipped");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->stamp_column, "shipped_at");
  EXPECT_EQ(o.find(std::string_view("draft"), "cancelled")->stamp_column, "cancelled_at");
  EXPECT_EQ(o.find(std::string_view("placed"), "cancelled")->stamp_column, "cancelled_at");
  EXPECT_EQ(o.find(std::string_view("draft"), "shipped"), nullptr);
}

TEST(StateMachineTest, RejectionFromAStateWithoutWayOut) {
  EXPECT_EQ(license_session().rejection(std::string_view("ended"), "active"),
            "license_session: cannot go from 'ended' to 'active' (from 'ended': none)");
  EXPECT_EQ(license_session().rejection(std::string_view("unknown"), "active"),
            "license_session: cannot go from 'unknown' to 'active' (from 'unknown': none)");
}

TEST(StateMachineTest, RejectionListsAllowedTargetsInOrder) {
  EXPECT_EQ(license_session().rejection(std::string_view("active"), "active"),
            "license_session: cannot go from 'active' to 'active' (from 'active': 'zombie', "
            "'ended')");
  EXPECT_EQ(license_session().rejection(std::string_view("zombie"), "pending"),
            "license_session: cannot go from 'zombie' to 'pending' (from 'zombie': 'active', "
            "'ended')");
  EXPECT_EQ(order().rejection(std::string_view("placed"), "draft"),
            "order: cannot go from 'placed' to 'draft' (from 'placed': 'shipped', 'cancelled')");
}

TEST(StateMachineTest, RejectionOfAnInitialState) {
  EXPECT_EQ(license_session().rejection(std::nullopt, "ended"),
            "license_session: cannot start in 'ended' (a new row starts in: 'active')");
  EXPECT_EQ(order().rejection(std::nullopt, "shipped"),
            "order: cannot start in 'shipped' (a new row starts in: 'draft', 'placed')");
  StateMachine m("no_start");
  m.add({"a", "b", ""});
  EXPECT_EQ(m.rejection(std::nullopt, "a"),
            "no_start: cannot start in 'a' (a new row starts in: none)");
  EXPECT_EQ(m.rejection(std::string_view("b"), "a"),
            "no_start: cannot go from 'b' to 'a' (from 'b': none)");
  EXPECT_EQ(m.rejection(std::string_view("a"), "c"),
            "no_start: cannot go from 'a' to 'c' (from 'a': 'b')");
}

}  // namespace
}  // namespace coditect
