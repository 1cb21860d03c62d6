import PartialCancelFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzTargets.frameDecoder(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
