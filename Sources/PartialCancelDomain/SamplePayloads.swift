/// Sample payloads: one order per channel covering the three use cases of SPEC section 1 (an item
/// added by mistake, a bundle with an optional accessory, a subscription with a recurring service
/// line), used to seed the embedded default and by the tests. The web one is SPEC appendix A; the
/// other two are the same order as those channels send it, so all three price identically.
public enum SamplePayloads {
    public static let web = """
        {
          "external_id": "W-1001",
          "account": {"id": "acct-42", "tier": "standard", "email": "ana@example.com"},
          "currency": "USD",
          "status": "confirmed",
          "placed_at": "2026-11-20T10:00:00Z",
          "lines": [
            {"id": "L1", "sku": "MUG-01", "kind": "goods", "quantity": 2, "unit_price": 6000,
             "discount": 0, "tax_rate_bps": 1000,
             "fulfilment": {"location": "WH-EAST", "node": "own", "status": "reserved"}},
            {"id": "L2", "sku": "CAM-KIT", "kind": "bundle", "quantity": 1, "unit_price": 10000, "tax_rate_bps": 1000,
             "fulfilment": {"location": "WH-EAST", "node": "own", "status": "reserved"},
             "components": [
               {"id": "L2a", "sku": "CAM-01", "list_price": 9000, "optional": false},
               {"id": "L2b", "sku": "STRAP-01", "list_price": 3000, "optional": true}]},
            {"id": "L3", "sku": "SUPPORT-M", "kind": "subscription_service", "quantity": 1, "unit_price": 1500,
             "tax_rate_bps": 0, "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}},
            {"id": "L4", "sku": "TV-55", "kind": "goods", "quantity": 1, "unit_price": 50000, "tax_rate_bps": 1000,
             "fulfilment": {"location": "3PL-WEST", "node": "third_party_logistics", "status": "reserved",
                            "partner_accepts_cancel": false}}
          ],
          "promotions": [{"code": "SAVE20", "kind": "amount_off", "amount": 2000, "min_subtotal": 15000}],
          "shipping": {"amount": 1000, "tax_rate_bps": 0, "free_over": 0},
          "tenders": [{"id": "T1", "kind": "gift_card", "amount": 5000, "captured": true},
                      {"id": "T2", "kind": "card", "amount": 0, "captured": true}]
        }
        """

    public static let marketplace = """
        {
          "marketplace_order_id": "MP-5001",
          "order_state": "ACCEPTED",
          "buyer_id": "acct-42", "buyer_email": "ana@example.com", "buyer_tier": "standard",
          "currency_code": "USD",
          "created_at": "2026-11-20T10:00:00Z",
          "items": [
            {"item_id": "L1", "sku": "MUG-01", "type": "PRODUCT", "qty": 2, "price": "60.00", "discount": "0.00", "vat_percent": "10",
             "warehouse": "WH-EAST", "fulfilment_channel": "MERCHANT", "fulfilment_state": "RESERVED"},
            {"item_id": "L2", "sku": "CAM-KIT", "type": "BUNDLE", "qty": 1, "price": "100.00", "vat_percent": "10",
             "warehouse": "WH-EAST", "fulfilment_channel": "MERCHANT", "fulfilment_state": "RESERVED"},
            {"item_id": "L2a", "sku": "CAM-01", "type": "BUNDLE_PART", "bundle_item_id": "L2", "list_price": "90.00", "optional": false},
            {"item_id": "L2b", "sku": "STRAP-01", "type": "BUNDLE_PART", "bundle_item_id": "L2", "list_price": "30.00", "optional": true},
            {"item_id": "L3", "sku": "SUPPORT-M", "type": "SUBSCRIPTION", "qty": 1, "price": "15.00", "vat_percent": "0",
             "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z"},
            {"item_id": "L4", "sku": "TV-55", "type": "PRODUCT", "qty": 1, "price": "500.00", "vat_percent": "10",
             "warehouse": "3PL-WEST", "fulfilment_channel": "FBA", "fulfilment_state": "RESERVED", "partner_cancellable": false}
          ],
          "coupons": [{"code": "SAVE20", "fixed": "20.00", "min_order": "150.00"}],
          "shipping_fee": "10.00", "shipping_vat_percent": "0",
          "payments": [{"payment_id": "T1", "method": "GIFT_CARD", "amount": "50.00", "status": "CAPTURED"},
                       {"payment_id": "T2", "method": "CARD", "amount": "745.04", "status": "CAPTURED"}]
        }
        """

    public static let callcenter = """
        {
          "ticket_id": "CC-3001",
          "agent_id": "agent-7",
          "notes": "customer ordered by phone",
          "customer": {"account_id": "acct-42", "tier": "standard", "email": "ana@example.com"},
          "currency": "USD",
          "confirmed": true,
          "entered_at": "2026-11-20T10:00:00Z",
          "items": [
            {"line": "L1", "product": "MUG-01", "kind": "goods", "units": 2, "each": 6000, "reduction": 0, "tax_bps": 1000,
             "ship_from": {"site": "WH-EAST", "type": "own", "state": "reserved"}},
            {"line": "L2", "product": "CAM-KIT", "kind": "bundle", "units": 1, "each": 10000, "tax_bps": 1000,
             "ship_from": {"site": "WH-EAST", "type": "own", "state": "reserved"},
             "parts": [{"line": "L2a", "product": "CAM-01", "list": 9000, "optional": false},
                       {"line": "L2b", "product": "STRAP-01", "list": 3000, "optional": true}]},
            {"line": "L3", "product": "SUPPORT-M", "kind": "subscription", "units": 1, "each": 1500, "tax_bps": 0,
             "service_period": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}},
            {"line": "L4", "product": "TV-55", "kind": "goods", "units": 1, "each": 50000, "tax_bps": 1000,
             "ship_from": {"site": "3PL-WEST", "type": "third_party_logistics", "state": "reserved", "partner_can_cancel": false}}
          ],
          "deals": [{"code": "SAVE20", "off_amount": 2000, "needs_subtotal": 15000}],
          "delivery": {"fee": 1000, "tax_bps": 0, "waived_over": 0},
          "payment": [{"ref": "T1", "type": "voucher", "value": 5000, "settled": true},
                      {"ref": "T2", "type": "card", "value": 0, "settled": true}]
        }
        """
}
