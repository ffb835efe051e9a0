// keel::train learning-rate policy: linear scaling, warmup ramp, decay.
#include <gtest/gtest.h>

#include "keel/core/error.h"
#include "keel/train/schedule.h"

namespace keel::train {
namespace {

TEST(LrSchedule, LinearScalingByGlobalBatch) {
  EXPECT_DOUBLE_EQ(scaled_lr(0.1, 1024, 256, "linear"), 0.4);
  EXPECT_DOUBLE_EQ(scaled_lr(0.1, 1024, 256, "none"), 0.1);
  EXPECT_THROW(scaled_lr(0.1, 8, 256, "sqrt"), core::InputError);
}

TEST(LrSchedule, WarmupRampsLinearlyThenCosineDecaysToZero) {
  LrSchedule s;
  s.peak_lr = 1.0;
  s.warmup_epochs = 2;
  s.warmup_start_div = 10;
  s.total_epochs = 10;
  s.decay = LrDecay::cosine;
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(1), 0.55);
  EXPECT_DOUBLE_EQ(s.at(2), 1.0);
  EXPECT_NEAR(s.at(6), 0.5, 1e-12);
  EXPECT_NEAR(s.at(10), 0.0, 1e-12);
  EXPECT_GT(s.at(5), s.at(7));
}

TEST(LrSchedule, StepDecay) {
  LrSchedule s;
  s.peak_lr = 1.0;
  s.warmup_epochs = 0;
  s.total_epochs = 90;
  s.decay = LrDecay::step;
  s.step_every_epochs = 30;
  EXPECT_DOUBLE_EQ(s.at(29.9), 1.0);
  EXPECT_NEAR(s.at(30), 0.1, 1e-12);
  EXPECT_NEAR(s.at(65), 0.01, 1e-12);
}

}  // namespace
}  // namespace keel::train
