import CFuzzerDriver
import Foundation
import PartialCancelFuzzing

/// The fuzz target: libFuzzer calls it with each input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTargets.dispatch(UnsafeRawBufferPointer(start: data, count: count))
    return 0
}

// SwiftPM gives every executable its own main, so it hands over to libFuzzer's driver.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, count in fuzzOne(data, count) })
