// Settings profiles, the majority survey and discovery by serial: pure logic as [unit]; applying a
// profile to virtual PTP/IP cameras through the real libgphoto2 as [integration].
#include <catch2/catch.hpp>

#include "host/camera/camera_pool.h"
#include "host/camera/discovery.h"
#include "host/camera/settings.h"
#include "sim/camera/camera_farm.h"
#include "tests/test_support.h"

namespace twinrig::camera {
namespace {

TEST_CASE("a TOML settings profile maps to libgphoto2 settings in apply order", "[unit]") {
  auto profile = ParseSettingsProfile(
      "iso = 200\nshutter = \"1/125\"\naperture = 8\nwhitebalance = \"Daylight\"\n", false,
      "p.toml");
  REQUIRE(profile.ok());
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(profile->values == Pairs{{"iso", "200"},
                                 {"shutterspeed", "1/125"},
                                 {"f-number", "f/8"},
                                 {"whitebalance", "Daylight"}});
  auto json = ParseSettingsProfile(R"({"aperture": 5.6, "capturetarget": "card"})", true, "p.json");
  REQUIRE(json.ok());
  CHECK(json->values == Pairs{{"capturetarget", "card"}, {"f-number", "f/5.6"}});
}

TEST_CASE("a bad settings profile is refused naming the file and the key", "[unit]") {
  auto unknown = ParseSettingsProfile("iso = 200\nzoom = 3\n", false, "studio.toml");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().where == "studio.toml");
  CHECK(unknown.error().what.find("zoom") != std::string::npos);
  CHECK_FALSE(unknown.error().todo.empty());
  auto broken = ParseSettingsProfile("iso = = 2\n", false, "broken.toml");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().what.find("line 1") != std::string::npos);
  auto empty = ParseSettingsProfile("", false, "empty.toml");
  REQUIRE_FALSE(empty.ok());
  auto table = ParseSettingsProfile("[iso]\nvalue = 1\n", false, "t.toml");
  REQUIRE_FALSE(table.ok());
  CHECK(table.error().what.find("iso is not a string or a number") != std::string::npos);
  auto not_object = ParseSettingsProfile("[200]", true, "a.json");
  REQUIRE_FALSE(not_object.ok());
  auto missing = LoadSettingsProfile("/nonexistent/profile.toml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().where == "/nonexistent/profile.toml");
}

TEST_CASE("the survey finds the majority and the cameras that differ", "[unit]") {
  std::vector<CameraSettings> cameras = {
      {"A", "p1", {{"iso", "200"}, {"f-number", "f/8"}}, "", ""},
      {"B", "p2", {{"iso", "200"}, {"f-number", "f/8"}}, "", ""},
      {"C", "p3", {{"iso", "800"}, {"f-number", "f/8"}}, "", ""},
      {"D", "p4", {}, "not reachable", "check it"},
  };
  auto survey = Survey(cameras, {"iso", "f-number", "whitebalance"});
  CHECK(survey.majority.at("iso") == "200");
  CHECK(survey.majority.at("f-number") == "f/8");
  CHECK(survey.majority.count("whitebalance") == 0);
  CHECK(survey.differing == std::map<std::string, std::vector<std::string>>{{"C", {"iso"}}});
  CHECK_FALSE(survey.uniform());
  const std::string table = FormatSurvey(survey, false);
  CHECK(table.find("800*") != std::string::npos);
  CHECK(table.find("C: iso is 800 (others 200)") != std::string::npos);
  CHECK(table.find("D: not reachable") != std::string::npos);
  CHECK(FormatSurvey(survey, true).find("\033[1;31m800*") != std::string::npos);
  // A tie goes to the smallest value whatever the camera order.
  auto tie =
      Survey({{"X", "", {{"iso", "400"}}, "", ""}, {"Y", "", {{"iso", "200"}}, "", ""}}, {"iso"});
  CHECK(tie.majority.at("iso") == "200");
  auto same = Survey({cameras[0], cameras[1]}, {"iso", "f-number"});
  CHECK(same.uniform());
}

TEST_CASE("discovery matches cameras by serial, moved ones are used where they are", "[unit]") {
  std::vector<ExpectedCamera> rig = {
      {"S1", "ptpip:10.0.0.1"}, {"S2", "usb:001,004"}, {"S3", "ptpip:10.0.0.3"}};
  std::vector<PortProbe> probes = {
      {"ptpip:10.0.0.1", "S1", "EOS", ""},
      {"usb:001,004", "", "", "no camera"},
      {"ptpip:10.0.0.3", "", "", "could not connect"},
      {"usb:001,009", "S2", "EOS", ""},  // replugged into another USB port
      {"usb:002,003", "S9", "D850", ""},
  };
  auto found = MergeDiscovery(rig, probes);
  REQUIRE(found.size() == 4);
  CHECK(found[0].place == CameraPlace::kInPlace);
  CHECK(found[0].port == "ptpip:10.0.0.1");
  CHECK(found[1].place == CameraPlace::kMoved);
  CHECK(found[1].port == "usb:001,009");
  CHECK(found[1].rig_port == "usb:001,004");
  CHECK(found[1].note.find("used at usb:001,009") != std::string::npos);
  CHECK(found[2].place == CameraPlace::kMissing);
  CHECK(found[2].note == "could not connect");
  CHECK(found[3].place == CameraPlace::kExtra);
  CHECK(found[3].serial == "S9");

  // Two cameras swapped between the rig's addresses: both moved, each used where it answers.
  auto swapped = MergeDiscovery({{"A", "ptpip:1"}, {"B", "ptpip:2"}},
                                {{"ptpip:1", "B", "", ""}, {"ptpip:2", "A", "", ""}});
  CHECK(swapped[0].place == CameraPlace::kMoved);
  CHECK(swapped[0].port == "ptpip:2");
  CHECK(swapped[1].port == "ptpip:1");
  // A serial answering at its rig port and elsewhere is used at its rig port.
  auto twice =
      MergeDiscovery({{"A", "ptpip:1"}}, {{"usb:001,002", "A", "", ""}, {"ptpip:1", "A", "", ""}});
  CHECK(twice[0].place == CameraPlace::kInPlace);
  CHECK(twice.size() == 1);
  Discovery d;
  d.cameras = found;
  d.usb_ports = {"usb:001,009", "usb:002,003"};
  const std::string text = FormatDiscovery(d);
  CHECK(text.find("MOVED") != std::string::npos);
  CHECK(text.find("2 camera(s) of the rig found, 1 moved, 1 missing") != std::string::npos);
}

struct Farm {
  Farm(const std::string& base, int count) {
    sim::camera::StudioAddressing addressing;
    addressing.base_address = base;
    addressing.synthetic_jpeg_bytes = std::size_t{64} * 1024;
    auto configs = sim::camera::MakeCameraConfigs(count, addressing);
    REQUIRE(configs.ok());
    farm = std::make_unique<sim::camera::CameraFarm>(*configs);
    REQUIRE(farm->Start().ok());
  }
  std::vector<PoolCamera> Cameras() const {
    std::vector<PoolCamera> cameras;
    for (std::size_t i = 0; i < farm->size(); ++i) {
      cameras.push_back({farm->config(i).serial, farm->GphotoPort(i)});
    }
    return cameras;
  }
  std::unique_ptr<sim::camera::CameraFarm> farm;
};

WorkerOptions Worker(const testing::TempDir& dir) {
  WorkerOptions options;
  options.worker_binary = TWINRIG_CAMERA_WORKER_BINARY;
  options.home = dir / "home";
  options.connect_deadline = std::chrono::seconds(10);
  return options;
}

TEST_CASE("a profile is applied to every camera at once, read back, and the odd ones listed",
          "[integration]") {
  testing::TempDir dir;
  Farm farm("127.0.49.2", 4);
  CameraPool pool(farm.Cameras(), Worker(dir));
  REQUIRE(pool.ConnectAll().empty());
  // One camera starts with another ISO: the survey shows it.
  REQUIRE(pool.Client(farm.farm->config(2).serial).Apply("iso", "800").ok());
  auto before = ReadSettings(pool);
  INFO(FormatSurvey(before, false));
  CHECK(before.differing.size() == 1);
  CHECK(before.differing.count(farm.farm->config(2).serial) == 1);

  // The virtual camera's values as libgphoto2 lists them; its capture target is property 0xD0C0.
  auto profile = ParseSettingsProfile(
      "iso = 200\nshutter = \"0.0040s\"\naperture = 5.6\nwhitebalance = \"Daylight\"\n"
      "capturetarget = \"1\"\n",
      false, "p.toml");
  REQUIRE(profile.ok());
  auto applied = ApplyProfile(pool, *profile);
  INFO(FormatSurvey(applied.after, false));
  for (const auto& line : applied.differ) INFO(line);
  CHECK(applied.ok());
  for (const auto& c : applied.after.cameras) {
    CHECK(c.values.at("iso") == "200");
    CHECK(c.values.at("shutterspeed") == "0.0040s");
    CHECK(c.values.at("f-number") == "f/5.6");
    CHECK(c.values.at("capturetarget") == "1");
  }
  CHECK(ReadSettings(pool).uniform());
  CHECK(pool.Spawns() == 4);  // one worker per camera for the whole run

  // A value one camera does not offer: that camera is listed, the others have the profile.
  auto odd = ParseSettingsProfile("iso = 123457\n", false, "odd.toml");
  REQUIRE(odd.ok());
  auto refused = ApplyProfile(pool, *odd);
  CHECK_FALSE(refused.ok());
  CHECK(refused.differ.size() == 4);
  CHECK(refused.differ[0].find("does not offer") != std::string::npos);
}

TEST_CASE("cameras are found by serial at the rig's addresses, swapped ones as moved",
          "[integration]") {
  testing::TempDir dir;
  Farm farm("127.0.50.2", 3);
  auto cams = farm.Cameras();
  // The rig file has cameras 0 and 1 at each other's addresses, and one camera that is not there.
  std::vector<ExpectedCamera> rig = {{cams[0].serial, cams[1].port},
                                     {cams[1].serial, cams[0].port},
                                     {cams[2].serial, cams[2].port},
                                     {"GHOST01", "ptpip:127.0.50.250"}};
  DiscoveryOptions options;
  options.usb = true;
  options.worker = Worker(dir);
  auto d = DiscoverCameras(rig, options);
  INFO(FormatDiscovery(d));
  REQUIRE(d.cameras.size() == 4);
  CHECK(d.cameras[0].place == CameraPlace::kMoved);
  CHECK(d.cameras[0].port == cams[0].port);
  CHECK(d.cameras[1].place == CameraPlace::kMoved);
  CHECK(d.cameras[2].place == CameraPlace::kInPlace);
  CHECK(d.cameras[3].place == CameraPlace::kMissing);
  CHECK(d.usb_error.empty());  // autodetect ran (this host has no USB cameras)
}

}  // namespace
}  // namespace twinrig::camera
