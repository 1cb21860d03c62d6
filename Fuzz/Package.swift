// swift-tools-version:6.1
// libFuzzer targets for pcancel. Built only by tools/fuzz, with
// `-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library` (libFuzzer supplies main).
import PackageDescription

let package = Package(
    name: "pcancel-fuzz",
    dependencies: [.package(name: "pcancel", path: "..")],
    targets: [
        .executableTarget(name: "FuzzFrameDecoder", dependencies: [.product(name: "PartialCancelFuzzing", package: "pcancel")]),
        .executableTarget(name: "FuzzCodec", dependencies: [.product(name: "PartialCancelFuzzing", package: "pcancel")]),
        .executableTarget(name: "FuzzDispatch", dependencies: [.product(name: "PartialCancelFuzzing", package: "pcancel")]),
    ]
)
