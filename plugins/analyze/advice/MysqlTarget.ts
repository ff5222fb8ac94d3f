/**
 * How the analyze stage reads a MySQL/MariaDB URL and tells that two URLs name one database of one server (which it
 * refuses for the sandbox). Apart from MysqlServers.ts because the stage's config checks it: the config is read by
 * every command (`slowq validate`), which must not load the MySQL driver that the clients need.
 */

/** host:port/database of a mysql:// or mariadb:// URL; localhost, 127.0.0.1 and [::1] count as one host. */
export interface MysqlTarget {
  readonly host: string
  readonly port: number
  readonly database: string
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"])

export const isMysqlUrl = (url: URL): boolean => url.protocol === "mysql:" || url.protocol === "mariadb:"

export const mysqlTarget = (url: URL): MysqlTarget => {
  const host = url.hostname.toLowerCase()
  return {
    host: LOOPBACK.has(host) ? "loopback" : host,
    port: url.port === "" ? 3306 : Number(url.port),
    database: decodeURIComponent(url.pathname.slice(1))
  }
}

/** Whether two targets are the same database of the same server as far as their URLs say. */
export const sameTarget = (a: MysqlTarget, b: MysqlTarget): boolean =>
  a.host === b.host && a.port === b.port && a.database.toLowerCase() === b.database.toLowerCase()
