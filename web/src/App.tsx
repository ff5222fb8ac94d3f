import { setToken } from "./api.js"
import { FindingsPage } from "./pages/Findings.js"
import { PipelinesPage } from "./pages/Pipelines.js"
import { QueriesPage } from "./pages/Queries.js"
import { QueryDetailPage } from "./pages/QueryDetail.js"
import { onLinkClick, useLocation } from "./router.js"
import { useToken } from "./useApi.js"

const queryPath = /^\/queries\/([^/]+)\/?$/

export const App = () => {
  const { path } = useLocation()
  const token = useToken()
  const detail = queryPath.exec(path)
  return (
    <>
      <header className="top">
        <a className="brand" href="/" onClick={onLinkClick}>
          slowq
        </a>
        <nav aria-label="Pages">
          <a href="/" onClick={onLinkClick} aria-current={path === "/" || path.startsWith("/queries") ? "page" : undefined}>
            Queries
          </a>
          <a href="/findings" onClick={onLinkClick} aria-current={path === "/findings" ? "page" : undefined}>
            Findings
          </a>
          <a href="/pipelines" onClick={onLinkClick} aria-current={path === "/pipelines" ? "page" : undefined}>
            Pipelines
          </a>
        </nav>
        {token !== null && (
          <button type="button" className="link" onClick={() => setToken(null)} title="The token is kept for this tab only">
            Forget the token
          </button>
        )}
      </header>
      <main>
        {detail !== null ? (
          <QueryDetailPage id={decodeURIComponent(detail[1]!)} />
        ) : path === "/" || path === "/queries" ? (
          <QueriesPage />
        ) : path === "/findings" ? (
          <FindingsPage />
        ) : path === "/pipelines" ? (
          <PipelinesPage />
        ) : (
          <section>
            <h1>No such page</h1>
            <p>
              <a href="/" onClick={onLinkClick}>
                See the queries
              </a>
            </p>
          </section>
        )}
      </main>
    </>
  )
}
