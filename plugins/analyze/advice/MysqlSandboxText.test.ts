import { describe, expect, it } from "@effect/vitest"
import { sandboxDefinition } from "./MysqlSandbox.js"
import { qualifiersTo } from "./MysqlRewrite.js"

// The sandbox's two text transformations, exactly: the statement pointed at the sandbox database, and the table's
// definition as a temporary copy there.

describe("MySQL sandbox texts", () => {
  it("points qualifiers naming the watched database at the sandbox, never strings, comments or later name parts", () => {
    expect(
      qualifiersTo(
        "SELECT shop.orders.cust FROM `shop`.`orders` o JOIN SHOP.x ON 'shop.orders' = shop.x.a /* shop.y */ WHERE o.shop = 1",
        "shop",
        "sb`1"
      )
    ).toBe(
      "SELECT `sb``1`.orders.cust FROM `sb``1`.`orders` o JOIN `sb``1`.x ON 'shop.orders' = `sb``1`.x.a /* shop.y */ WHERE o.shop = 1"
    )
    expect(qualifiersTo("SELECT * FROM orders WHERE note = 'open", "shop", "sb")).toBeUndefined()
  })

  it("makes a temporary copy in the sandbox database without foreign keys; refuses other engines and partitions", () => {
    const create = [
      "CREATE TABLE `orders` (",
      "  `id` int(11) NOT NULL,",
      "  `cust` int(11) NOT NULL,",
      "  PRIMARY KEY (`id`),",
      "  KEY `cust` (`cust`),",
      "  CONSTRAINT `orders_ibfk_1` FOREIGN KEY (`cust`) REFERENCES `customers` (`id`)",
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    ].join("\n")
    expect(sandboxDefinition(create, "orders", "sb")).toEqual({
      _tag: "Ok",
      ddl: [
        "/* slowq */ CREATE TEMPORARY TABLE `sb`.`orders` (",
        "  `id` int(11) NOT NULL,",
        "  `cust` int(11) NOT NULL,",
        "  PRIMARY KEY (`id`),",
        "  KEY `cust` (`cust`)",
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
      ].join("\n")
    })
    expect(sandboxDefinition(create.replace("ENGINE=InnoDB", "ENGINE=FEDERATED"), "orders", "sb")).toEqual({
      _tag: "Refused",
      reason: "table orders uses ENGINE=FEDERATED, which the sandbox does not copy"
    })
    expect(sandboxDefinition(`${create}\n PARTITION BY HASH (\`id\`)\nPARTITIONS 4`, "orders", "sb")).toEqual({
      _tag: "Refused",
      reason: "table orders is partitioned"
    })
    expect(sandboxDefinition(create, "customers", "sb")).toEqual({
      _tag: "Refused",
      reason: "unexpected SHOW CREATE TABLE output for customers"
    })
  })
})
