#include "keel/core/table.h"

#include <gtest/gtest.h>

using keel::core::Table;

TEST(Table, AlignsColumns) {
  Table t({"name", "MW"});
  t.add_row({"none", "12.5"});
  t.add_row({"all", "3"});
  EXPECT_EQ(t.render(),
            "name    MW\n"
            "----  ----\n"
            "none  12.5\n"
            "all      3\n");
}

TEST(Table, RejectsRaggedRows) {
  Table t({"a", "b"});
  EXPECT_THROW(t.add_row({"1"}), std::invalid_argument);
}

TEST(Table, CountsUtf8AsOneColumn) { EXPECT_EQ(keel::core::display_width("Δf"), 2u); }
