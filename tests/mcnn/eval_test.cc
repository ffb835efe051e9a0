// Image accuracy, confusion matrix and NSC on hand-built predictions with known answers.
#include <gtest/gtest.h>

#include "keel/mcnn/eval.h"

namespace keel::mcnn {
namespace {

Sample sample(const std::string& compound, double conc, int label) {
  Sample s;
  s.row.compound = compound;
  s.row.concentration = conc;
  s.label = label;
  return s;
}

TEST(McnnEval, AccuracyConfusionAndNotSameCompoundNeighbours) {
  Dataset ds;
  ds.classes = {"A", "B", "DMSO"};
  // Class A: compounds a1, a2; class B: b1, b2; DMSO. Features point along one axis per class,
  // except b2, which looks like class A: its NSC neighbour (a1 or a2) is wrong.
  ds.samples = {sample("a1", 1, 0), sample("a1", 1, 0), sample("a2", 1, 0), sample("b1", 1, 1),
                sample("b2", 1, 1), sample("DMSO", 0, 2)};
  auto pred = [](std::size_t i, int p, std::vector<float> f) { return Prediction{i, p, {}, std::move(f)}; };
  std::vector<Prediction> preds = {pred(0, 0, {1, 0, 0}), pred(1, 1, {1, 0.1f, 0}),
                                   pred(2, 0, {0.9f, 0, 0}), pred(3, 1, {0, 1, 0}),
                                   pred(4, 1, {1, 0.3f, 0}), pred(5, 2, {0, 0, 1})};
  EvalReport r = evaluate(ds, preds);
  EXPECT_EQ(r.images, 6u);
  EXPECT_DOUBLE_EQ(r.accuracy, 5.0 / 6.0);
  EXPECT_EQ(r.confusion[0][0], 2);
  EXPECT_EQ(r.confusion[0][1], 1);
  EXPECT_EQ(r.confusion[1][1], 2);
  EXPECT_EQ(r.confusion[2][2], 1);
  // Queries a1, a2, b1, b2 (DMSO is not one). Unit profiles: a1 ~ (1, .05), a2 = (1, 0),
  // b1 = (0, 1), b2 ~ (.96, .29). a1 -> a2 (cos .999 > .971 for b2), a2 -> a1, b1 -> b2 (.29):
  // right; b2 -> a1 (.971): wrong. Same-compound a1 images never count as neighbours.
  EXPECT_EQ(r.nsc_treatments, 4);
  EXPECT_DOUBLE_EQ(r.nsc_accuracy, 0.75);
}

}  // namespace
}  // namespace keel::mcnn
