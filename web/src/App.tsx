import { useEffect } from 'react';
import { Route, Router, Switch } from 'wouter';
import { useHashLocation } from 'wouter/use-hash-location';
import { useAuth } from './auth/AuthContext';
import { ErrorBoundary } from './ErrorBoundary';
import { TokenPrompt } from './auth/TokenPrompt';
import { NodeDetailsPage } from './node-details/NodeDetailsPage';
import { NodesPage } from './nodes/NodesPage';
import { ThemeToggle } from './theme/ThemeToggle';

function NodesRoute() {
  useEffect(() => {
    document.title = 'Nodes · xpagent';
  }, []);
  return <NodesPage />;
}

/** Routes live in the hash (`#/`, `#/nodes/<id>`): deep links survive a reload with no server help. */
export function App() {
  const { rejected } = useAuth();
  return (
    <>
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          // The hash is the router's: move focus without navigating.
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="app-header">
        <a className="app-header__brand" href="#/">
          xpagent
        </a>
        <ThemeToggle />
      </header>
      <main id="main" tabIndex={-1}>
        {rejected ? (
          <TokenPrompt />
        ) : (
          <Router hook={useHashLocation}>
            <ErrorBoundary>
              <Switch>
                <Route path="/" component={NodesRoute} />
                <Route path="/nodes/:id">{(params) => <NodeDetailsPage key={params.id} nodeId={params.id} />}</Route>
                <Route>
                  <p className="banner banner--error" role="alert">
                    No such page. <a href="#/">Back to all nodes</a>
                  </p>
                </Route>
              </Switch>
            </ErrorBoundary>
          </Router>
        )}
      </main>
    </>
  );
}
