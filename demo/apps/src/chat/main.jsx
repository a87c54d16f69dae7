/** The chat app's entry: StrictMode on, as every app should develop with. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../common/base.css';
import './chat.css';
import { App } from './App.jsx';

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
