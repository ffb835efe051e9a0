// Data-parallel training across two hosts, emulated by two network namespaces joined by a veth
// pair (created here; all traffic stays between them): mpirun with a hostfile, OpenMPI over TCP
// only (btl tcp,self and an interface include list), an rsh agent that enters each namespace as
// ssh would log in. The losses equal 1 host x 2 ranks. Needs root and `ip netns`; skips otherwise.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../support/run_keel.h"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Two namespaces A (10.77.0.1) and B (10.77.0.2) joined by a veth pair, removed on destruction.
class NamespacePair {
 public:
  NamespacePair() {
    const std::string id = std::to_string(::getpid());
    a_ = "keelmn" + id + "a";
    b_ = "keelmn" + id + "b";
    const std::string va = "vk" + id + "a", vb = "vk" + id + "b";
    const std::string cmd =
        "set -e; ip netns add " + a_ + "; ip netns add " + b_ + "; ip link add " + va +
        " type veth peer name " + vb + "; ip link set " + va + " netns " + a_ + "; ip link set " +
        vb + " netns " + b_ + "; ip -n " + a_ + " addr add 10.77.0.1/24 dev " + va + "; ip -n " +
        b_ + " addr add 10.77.0.2/24 dev " + vb + "; for n in " + a_ + " " + b_ +
        "; do ip -n $n link set lo up; done; ip -n " + a_ + " link set " + va + " up; ip -n " +
        b_ + " link set " + vb + " up";
    auto r = run_shell(cmd);
    ok_ = r.rc == 0;
    error_ = r.err;
  }
  ~NamespacePair() { run_shell("ip netns del " + a_ + "; ip netns del " + b_); }  // veth goes too
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string a_, b_, error_;
  bool ok_ = false;
};

TEST(McnnMultiNode, TwoHostsOverTcpFollowOneHostWithTwoRanks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
  if (run_shell("ip netns list").rc != 0) GTEST_SKIP() << "needs `ip netns` (iproute2)";
  NamespacePair ns;
  if (!ns.ok()) GTEST_SKIP() << "cannot create network namespaces here: " << ns.error();

  const fs::path d = fs::temp_directory_path() / ("keel_multinode_" + std::to_string(::getpid()));
  fs::remove_all(d);
  auto s = run_keel("mcnn synth --quiet --height 128 --width 128 --images-per-class 3 --seed 5 --out " +
                    d.string());
  ASSERT_EQ(s.rc, 0) << s.err;
  const std::string train = std::string(KEEL_BINARY) + " mcnn train --quiet --data " + d.string() +
                            " --epochs 2 --batch 4 --lr 0.003 --reference-batch 4 "
                            "--warmup-epochs 1 --threads 1 --log ";
  const std::string env =
      "env MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776 "
      "ASAN_OPTIONS=detect_leaks=0 ";
  const std::string pass = " -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ -x ASAN_OPTIONS ";

  auto one = run_shell(env + KEEL_MPIEXEC " --allow-run-as-root --bind-to none -np 2" + pass +
                       train + (d / "one_host.json").string());
  ASSERT_EQ(one.rc, 0) << one.err;

  // As on a cluster: a hostfile, one slot per host, TCP on the cluster network only.
  std::ofstream(d / "hosts") << "10.77.0.1 slots=1\n10.77.0.2 slots=1\n";
  const fs::path log = d / "launches.log";
  const std::string mpirun =
      "ip netns exec " + ns.a() + " " + env + "OMPI_ALLOW_RUN_AS_ROOT=1 " +
      "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 KEEL_NETNS_MAP='10.77.0.1=" + ns.a() + " 10.77.0.2=" +
      ns.b() + "' KEEL_NETNS_LOG=" + log.string() + " timeout 300 " KEEL_MPIEXEC " --hostfile " +
      (d / "hosts").string() + " -np 2 --map-by node --bind-to none" +
      " --mca plm_rsh_agent " KEEL_SOURCE_DIR "/tests/mcnn/netns_rsh.sh" +
      " --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24" +
      " --mca oob_tcp_if_include 10.77.0.0/24" + pass + train + (d / "two_hosts.json").string();
  auto two = run_shell(mpirun);
  ASSERT_EQ(two.rc, 0) << two.out << two.err;
  // The second host's daemon was started through the agent, inside namespace B.
  EXPECT_EQ(read_all(log), "10.77.0.2 " + ns.b() + "\n");

  const json a = json::parse(read_all(d / "one_host.json")), b = json::parse(read_all(d / "two_hosts.json"));
  EXPECT_EQ(b["config"]["ranks"], 2);
  ASSERT_EQ(a["step_losses"].size(), 12u);
  // Two ranks sum the same two addends whatever the transport: identical, not just close.
  EXPECT_EQ(a["step_losses"], b["step_losses"]);
  for (const char* k : {"val_loss", "param_sum", "param_l2"})
    EXPECT_EQ(a["epochs"][1][k], b["epochs"][1][k]) << k;
  fs::remove_all(d);
}

}  // namespace
}  // namespace keel::testing
