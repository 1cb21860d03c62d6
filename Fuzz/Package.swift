// swift-tools-version:6.1
// libFuzzer targets for pcancel. Built only by tools/fuzz, with `-Xswiftc -sanitize=fuzzer,address`;
// each target's main hands over to libFuzzer's driver (LLVMFuzzerRunDriver).
import PackageDescription

let package = Package(
    name: "pcancel-fuzz",
    dependencies: [.package(name: "pcancel", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "FuzzFrameDecoder",
            dependencies: ["CFuzzerDriver", .product(name: "PartialCancelFuzzing", package: "pcancel")]
        ),
        .executableTarget(
            name: "FuzzCodec",
            dependencies: ["CFuzzerDriver", .product(name: "PartialCancelFuzzing", package: "pcancel")]
        ),
        .executableTarget(
            name: "FuzzDispatch",
            dependencies: ["CFuzzerDriver", .product(name: "PartialCancelFuzzing", package: "pcancel")]
        ),
    ]
)
